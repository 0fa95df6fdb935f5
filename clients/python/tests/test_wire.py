"""The pieces of the wire that need no server."""

from __future__ import annotations

import datetime
import uuid

import pytest

import strand_client as s
from strand_client import _wire as w
from strand_client._client import _parse_time


def test_uuid7() -> None:
    ids = [s.uuid7() for _ in range(100)]
    for i in ids:
        u = uuid.UUID(i)
        assert u.version == 7 and u.variant == uuid.RFC_4122
        w.valid_id(i)
    assert len(set(ids)) == 100
    stamps = [uuid.UUID(i).int >> 80 for i in sorted(ids)]
    assert stamps == sorted(stamps)  # ids sort by time


@pytest.mark.parametrize("seconds,want", [(14 * 24 * 3600, "336h0m0s"), (24 * 3600, "24h0m0s"), (90, "1m30s"),
                                          (1, "1s"), (3661, "1h1m1s")])
def test_go_duration(seconds: float, want: str) -> None:
    assert w.go_duration(seconds) == want
    assert w.parse_ttl(want) == seconds


def test_parse_ttl() -> None:
    assert w.parse_ttl("1209600") == 1209600
    assert w.parse_ttl("500ms") == 0.5
    assert w.parse_ttl("nonsense") is None and w.parse_ttl("") is None


def test_parse_time() -> None:
    t = _parse_time("2026-12-01T14:15:45.123456789Z")
    assert t == datetime.datetime(2026, 12, 1, 14, 15, 45, 123456, tzinfo=datetime.timezone.utc)
    assert _parse_time("2026-12-01T14:15:45Z") is not None and _parse_time("x") is None


def test_names() -> None:
    n = w.Names("strand")
    assert n.task("default", "x") == "strand.t.default.x"
    assert n.key("r", "default", "x") == "$KV.STRAND.r.default.x"
    assert n.events("q", "x") == "strand.evt.*.q.x"
    assert n.items("q", "x") == "strand.items.q.x"
    assert (n.kv_stream, n.tasks_stream, n.items_stream) == ("KV_STRAND", "STRAND_TASKS", "STRAND_ITEMS")
    with pytest.raises(s.BadOption):
        w.Names("Bad.Prefix")


def test_as_cancelled() -> None:
    rec = w.as_cancelled({"status": "completed", "result": 5}, "q")
    assert rec == {"status": "cancelled", "queue": "q", "error": {"kind": "cancelled", "message": "cancelled by caller"}}


def test_content_type() -> None:
    assert w.content_type_of("application/json; charset=utf-8") == w.JSON
    assert w.content_type_of(None) == w.MSGPACK
    assert w.decode_value(b"{", w.MSGPACK) == 123  # an item is decoded by its type, not its first byte


def test_bad_records_are_value_errors() -> None:
    for b in [b"\x92\x01", b"\xc1", b"{not json", b"\x81\x91\x01\x02", b"\xff\xfe", b"\x05"]:
        with pytest.raises(ValueError):
            w.decode_record(b)


def test_connect_without_a_server() -> None:
    import asyncio

    from conftest import free_port

    async def main() -> None:
        with pytest.raises(s.Unavailable):
            await s.connect(f"nats://127.0.0.1:{free_port()}", connect_timeout=1)
    asyncio.run(main())
