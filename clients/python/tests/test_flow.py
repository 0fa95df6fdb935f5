"""Flow-control submit options (priority=, key=, unique_for=, debounce=)
against a real `strand dev` (docs/protocol.md, "Flow control"). No tight
timing: orders are read from the outcomes' start times."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import strand_client as s
from strand_client import _wire as w

from conftest import Dev, run
from test_client import NOBODY, uid


def test_priority_high_starts_before_a_low_backlog(own_dev: Any) -> None:
    d: Dev = own_dev(env={"STRAND_CONCURRENCY": "1"})

    async def main() -> None:
        c = await s.connect(d.url)
        try:
            lows = [await c.submit("sleep", 300, priority="low") for _ in range(6)]
            high = await c.submit("sleep", 1, priority="high")
            assert high.metadata["priority"] == "high"
            h = await high.wait(timeout=60)
            assert h.status is s.Status.COMPLETED
            starts = [(await lo.wait(timeout=60)).started for lo in lows]
            # A 1-slot worker holds at most one low task running and one in
            # its low lane's standing request when the high one comes.
            after = sum(1 for st in starts if st >= h.started)
            assert after >= len(lows) - 2, (h.started, starts)
        finally:
            await c.close()
    run(main())


def test_priority_lane_status_open_cancel_duplicate(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            tid = uid("prio")
            h = await c.submit("add", 1, 2, id=tid, queue=NOBODY, priority="high")
            assert await h.status() is s.Status.PENDING
            o = await c.open(tid)  # its queue found from the lane's subject
            assert o.queue == NOBODY and o.func == "add"
            assert await o.status() is s.Status.PENDING
            rec = await c._get(c.names.tasks_stream, c.names.task(NOBODY, tid, "high"), _deadline())
            assert rec is not None and rec.headers["Nats-Expected-Last-Subject-Sequence-Subject"] == \
                f"strand.t.*.{tid}"
            # The id is taken across lanes: normal, low, high.
            for prio in (None, "low", "high"):
                with pytest.raises(s.Duplicate) as dup:
                    await c.submit("add", 1, 2, id=tid, queue=NOBODY, priority=prio)
                assert dup.value.handle is not None and dup.value.handle.id == tid
            await o.cancel()
            assert await h.status() is s.Status.CANCELLED
            # ... and a normal task's id holds a lane's publish back.
            tid2 = uid("prio")
            await c.submit("add", 1, 2, id=tid2, queue=NOBODY)
            with pytest.raises(s.Duplicate):
                await c.submit("add", 1, 2, id=tid2, queue=NOBODY, priority="low")
        finally:
            await c.close()
    run(main())


def test_priority_unknown_is_refused(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            with pytest.raises(s.BadOption, match="priority"):
                await c.submit("add", 1, 2, priority="urgent")
        finally:
            await c.close()
    run(main())


def _deadline() -> Any:
    from strand_client._client import _Deadline
    return _Deadline(10)


def test_wire_names() -> None:
    n = w.Names()
    assert n.task("q", "id1", "high") == "strand.t.q~high.id1"
    assert w.queue_of("strand.t.q~low.id1") == "q"
    assert w.valid_priority("normal") == ""


def test_unique_racing_submits_make_one_task(dev: Dev) -> None:
    async def main() -> None:
        a, b = await s.connect(dev.url), await s.connect(dev.url)
        try:
            key = uid("key")

            async def one(c: s.Client) -> tuple[str, bool]:
                try:
                    h = await c.submit("sleep", 500, key=key, unique_for="finished")
                    return h.id, False
                except s.Duplicate as e:
                    return e.handle.id, True
            got = await asyncio.gather(*(one(c) for c in (a, b, a, b)))
            ids = {tid for tid, _ in got}
            assert len(ids) == 1, got
            assert sum(1 for _, dup in got if not dup) == 1, got
            (tid,) = ids
            h = await a.open(tid)
            assert h.metadata["key"] == key and h.metadata["unique"] == "finished"
            assert (await h.wait(timeout=60)).status is s.Status.COMPLETED
            # Finished: the key is free again (the worker released it).
            again = await a.submit("sleep", 1, key=key, unique_for="finished")
            assert again.id != tid
            assert (await again.wait(timeout=60)).status is s.Status.COMPLETED
        finally:
            await a.close()
            await b.close()
    run(main())


def test_unique_window_holds_after_the_task_ended(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            key = uid("win")
            first = await c.submit("add", 1, 2, key=key, unique_for=30)
            assert first.metadata["unique"] == "for"
            assert await first.result(timeout=60) == 3
            with pytest.raises(s.Duplicate) as dup:
                await c.submit("add", 1, 2, key=key, unique_for=30)
            assert dup.value.handle.id == first.id
            assert await dup.value.handle.result(timeout=10) == 3
        finally:
            await c.close()
    run(main())


def test_cancel_releases_an_until_finished_key(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            key = uid("cancel")
            h = await c.submit("add", 1, 2, queue=NOBODY, key=key, unique_for="finished")
            with pytest.raises(s.Duplicate):
                await c.submit("add", 1, 2, queue=NOBODY, key=key, unique_for="finished")
            await h.cancel()
            again = await c.submit("add", 1, 2, queue=NOBODY, key=key, unique_for="finished")
            assert again.id != h.id
            await again.cancel()
        finally:
            await c.close()
    run(main())


def test_debounce_last_submit_wins(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            key = uid("deb")
            hs = [await c.submit("add", i, 10, key=key, debounce=2) for i in range(3)]
            assert hs[-1].metadata["not_before"] == hs[-1].metadata["created"] + 2000
            last = await hs[-1].wait(timeout=60)
            assert last.status is s.Status.COMPLETED and last.result == 12
            assert last.started >= hs[-1].metadata["not_before"], "started before its debounce window"
            for h, by in zip(hs, hs[1:]):  # each replaced by the next
                o = await h.wait(timeout=10)
                assert o.status is s.Status.CANCELLED, o
                assert o.error_message == f"add: replaced by {by.id} (debounce {key})"
                with pytest.raises(s.Cancelled):
                    await h.result(timeout=1)
        finally:
            await c.close()
    run(main())


def test_flow_options_refused(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            for opts in ({"unique_for": 10}, {"debounce": 10}, {"key": "k", "unique_for": 10, "debounce": 10},
                         {"key": "a b"}, {"key": "k", "unique_for": 0.5}, {"key": "k", "debounce": 0.2},
                         {"key": "k", "unique_for": 120, "result_ttl": 60}, {"key": "k", "unique_for": "soon"}):
                with pytest.raises(s.BadOption):
                    await c.submit("add", 1, 2, **opts)
        finally:
            await c.close()
    run(main())


def test_go_cli_tasks_in_lanes_and_keys(dev: Dev, strand_bin: str) -> None:
    """Go's writer and the client meet on the wire: a Go task in a priority
    lane is found, and a key the client holds refuses Go's submit (and the
    other way round)."""
    import subprocess

    def cli(*args: str) -> str:
        out = subprocess.run([strand_bin, "--server", dev.url, *args], check=True, capture_output=True, text=True,
                             timeout=60)
        return out.stdout.strip().splitlines()[-1]

    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            tid = cli("submit", "--queue", NOBODY, "--priority", "low", "add", "1", "2")
            h = await c.open(tid)
            assert h.queue == NOBODY and await h.status() is s.Status.PENDING
            assert h.metadata["priority"] == "low"
            await h.cancel()
            key = uid("go")
            mine = await c.submit("add", 1, 2, queue=NOBODY, key=key, unique_for="finished")
            held = cli("submit", "--queue", NOBODY, "--key", key, "--unique-for", "finished", "add", "1", "2")
            assert held == mine.id
            await mine.cancel()  # releases the key
            key2 = uid("go")
            theirs = cli("submit", "--queue", NOBODY, "--key", key2, "--unique-for", "1m", "add", "1", "2")
            with pytest.raises(s.Duplicate) as dup:
                await c.submit("add", 1, 2, queue=NOBODY, key=key2, unique_for=60)
            assert dup.value.handle.id == theirs
            await dup.value.handle.cancel()
        finally:
            await c.close()
    run(main())
