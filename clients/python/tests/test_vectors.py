"""The shared vectors of testdata/vectors (made from the Go codec): this
client decodes each to the value it means, numbers' types included, reads
outcomes and cancellations as the protocol says, and encodes what it writes
(envelopes, cancellations) to the same value — byte for byte, as it happens."""

from __future__ import annotations

import json
from typing import Any

import pytest

import strand_client as s
from strand_client import _wire as w
from strand_client._client import Outcome

from conftest import VECTORS

INDEX = json.loads((VECTORS / "vectors.json").read_text())
ALL = INDEX["vectors"]


def by_kind(*kinds: str) -> list[dict[str, Any]]:
    return [v for v in ALL if v["kind"] in kinds]


def data(v: dict[str, Any]) -> bytes:
    return (VECTORS / v["file"]).read_bytes()


def same(got: Any, want: Any, path: str = "$") -> None:
    """got == want, and of the same JSON type: an int is not a float."""
    if isinstance(want, bool) or want is None:
        assert got is want, f"{path}: {got!r}, want {want!r}"
    elif isinstance(want, int):
        assert isinstance(got, int) and not isinstance(got, bool) and got == want, f"{path}: {got!r}, want int {want}"
    elif isinstance(want, float):
        assert isinstance(got, float) and got == want, f"{path}: {got!r}, want float {want}"
    elif isinstance(want, str):
        assert isinstance(got, str) and got == want, f"{path}: {got!r}, want {want!r}"
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got!r}, want {want!r}"
        for i, (g, x) in enumerate(zip(got, want)):
            same(g, x, f"{path}[{i}]")
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: keys {sorted(got)}, want {sorted(want)}"
        for k in want:
            same(got[k], want[k], f"{path}.{k}")
    else:
        raise AssertionError(f"{path}: unexpected {want!r}")


def test_index() -> None:
    assert INDEX["protocol"] == w.VERSION
    kinds = {v["kind"] for v in ALL}
    assert kinds == {"envelope", "state", "outcome", "cancellation", "item", "items_end", "worker"}
    assert {v["format"] for v in ALL} == {"msgpack", "json"}


@pytest.mark.parametrize("v", ALL, ids=lambda v: v["name"])
def test_decode(v: dict[str, Any]) -> None:
    b = data(v)
    if v["kind"] in ("item", "items_end"):
        ct = w.content_type_of(v["headers"].get("Content-Type"))
        got = w.decode_value(b, ct) if b else None
    else:
        got = w.decode_record(b)
        assert w.record_format(b) == (w.JSON if v["format"] == "json" else w.MSGPACK)
    same(got, v["value"])


@pytest.mark.parametrize("v", by_kind("outcome", "cancellation"), ids=lambda v: v["name"])
def test_read_outcome(v: dict[str, Any], ) -> None:
    """The client reads an outcome (a cancellation: what it reads as) and raises the error class of its kind."""
    fake = s.Client.__new__(s.Client)  # _decode_outcome needs no connection
    o = s.Client._decode_outcome(fake, v["subject"], data(v), "default")
    want = v.get("reads_as") or dict(v["value"], queue=v["value"].get("queue", "default"))
    same(dict(o.record), want)
    assert o.status == s.Status(want["status"])
    if o.status is s.Status.COMPLETED:
        same(o.result, want.get("result"))
        return
    err = s.errors.task_error("t", o.record)
    kind = want["error"]["kind"]
    assert err.kind == kind and err.message == want["error"]["message"] and err.status == want["status"]
    assert type(err) is s.error_class(kind)
    assert type(err).kind_name == kind, f"no error class for kind {kind}"
    assert isinstance(err, s.TaskFailed)


def test_every_kind_has_its_class() -> None:
    kinds = {v["value"]["error"]["kind"] for v in by_kind("outcome") if "error" in v["value"]}
    expect = {"error": s.TaskFailed, "panic": s.Panic, "timeout": s.Timeout, "cancelled": s.Cancelled,
              "unknown_func": s.UnknownFunc, "bad_args": s.BadArgs, "malformed": s.Malformed,
              "too_large": s.TooLarge, "lost": s.Lost, "crashed": s.Crashed, "forbidden": s.Forbidden}
    assert kinds == set(expect)
    for k, cls in expect.items():
        assert s.error_class(k) is cls


def _envelope_from(value: dict[str, Any]) -> dict[str, Any]:
    return w.envelope(value["func"], value["args"], task_id=value["id"], queue=value["queue"],
                      kwargs=value.get("kwargs"), created_ms=value.get("created"),
                      timeout_ms=value.get("timeout_ms", 0), max_attempts=value.get("max_attempts", 0),
                      result_ttl_ms=value.get("result_ttl_ms", 0), meta=value.get("meta"),
                      trace=value.get("trace", ""))


WRITABLE = [v for v in by_kind("envelope") if v["value"]["v"] == w.VERSION and v["value"].get("args") is not None
            and "queue" in v["value"]]


@pytest.mark.parametrize("v", WRITABLE, ids=lambda v: v["name"])
def test_encode_envelope(v: dict[str, Any]) -> None:
    """What the client sends for the vector's task means the vector's value, and is its bytes."""
    ct = w.JSON if v["format"] == "json" else w.MSGPACK
    value = dict(v["value"])
    reserved = value.pop("deadline", None)  # reserved, ignored by workers: this client never sends it
    out = w.encode(_envelope_from(value), ct)
    same(w.decode_record(out), value)
    if reserved is None:
        assert out == data(v), "semantically equal, but not byte-equal to Go's bytes"


def test_encodes_every_option() -> None:
    """The vectors the client cannot write (deadline, version 1, no args) are ones it never sends."""
    names = {v["name"] for v in WRITABLE}
    assert {"envelope_add_msgpack", "envelope_kwargs_meta_options_json", "envelope_values_msgpack", "envelope_every_field_json"} <= names


@pytest.mark.parametrize("v", [v for v in by_kind("cancellation") if v["name"].startswith("cancellation_")
                               and not v["name"].startswith("cancellation_forged")], ids=lambda v: v["name"])
def test_encode_cancellation(v: dict[str, Any]) -> None:
    value = v["value"]
    ct = w.JSON if v["format"] == "json" else w.MSGPACK
    rec = w.cancellation(value["func"], value["queue"], created_ms=value["created"], meta=value["meta"],
                         finished_ms=value["finished"])
    out = w.encode(rec, ct)
    same(w.decode_record(out), value)
    assert out == data(v)


def test_items_end_headers() -> None:
    for v in by_kind("items_end"):
        assert data(v) == b"" and "Strand-End" in v["headers"]


def test_outcome_dataclass() -> None:
    v = next(v for v in ALL if v["name"] == "outcome_items_msgpack")
    o = Outcome.of(w.decode_record(data(v)))
    assert o.items == 3 and o.status is s.Status.COMPLETED and o.worker == "w1"
