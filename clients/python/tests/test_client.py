"""strand_client against a real `strand dev` (its worker runs the demo
functions add, echo, sleep, fail, count, work and scaled_add on queue
default; queue "nobody" has no worker, so its tasks stay queued)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from typing import Any

import pytest

import strand_client as s

from conftest import PY, Dev, python_env, run

NOBODY = "nobody"  # a queue no worker consumes


def uid(tag: str) -> str:
    return f"py-{tag}-{uuid.uuid4().hex[:12]}"


async def until(pred: Any, timeout: float = 20, every: float = 0.05) -> None:
    """Waits until the coroutine function pred returns true (for setting up a case, never for results)."""
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout} s")
        await asyncio.sleep(every)


def test_add(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("add", 2, 3)
            assert await h.result(timeout=20) == 5
            assert await h.status() is s.Status.COMPLETED
            assert await h.is_ready()
            o = await h.wait(timeout=5)
            assert o.status is s.Status.COMPLETED and o.attempt == 1 and o.worker
        finally:
            await c.close()
    run(main())


@pytest.mark.parametrize("use_json", [False, True], ids=["msgpack", "json"])
def test_round_trip(dev: Dev, use_json: bool) -> None:
    """Args of every type and kwargs come back as they went, in both formats."""
    value = {"none": None, "t": True, "i": -7, "big": 2**40, "f": 2.5, "s": "héllo ✓", "l": [1, [2, "x"]],
             "m": {"a": {"b": [True, None]}}}

    async def main() -> None:
        c = await s.connect(dev.url, json=use_json)
        try:
            h = await c.submit("echo", value)
            assert h.metadata["format"] == ("json" if use_json else "msgpack")
            got = await h.result(timeout=20)
            assert got == value
            assert isinstance(got["f"], float) and isinstance(got["i"], int)
            h = await c.submit("scaled_add", 2, 3, kwargs={"scale": 10})
            assert await h.result(timeout=20) == 50
            h = await c.submit("scaled_add", 2, 3)
            assert await h.result(timeout=20) == 5
        finally:
            await c.close()
    run(main())


def test_task_decorator(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            @s.task("add", client=c)
            def add(a: int, b: int) -> int: ...

            @s.task(client=c)
            def scaled_add(a: int, b: int, *, scale: int = 1) -> int: ...

            h = await add(2, 3)
            assert isinstance(h, s.Handle) and h.func == "add"
            assert await h.result(timeout=20) == 5
            assert await (await scaled_add(2, 3, scale=10)).result(timeout=20) == 50
            assert await (await scaled_add(1, 1)).result(timeout=20) == 2
            own = uid("deco")
            h = await add.options(id=own, meta={"who": "deco"})(4, 5)
            assert h.id == own and h.metadata["meta"] == {"who": "deco"}
            assert await h.result(timeout=20) == 9
            with pytest.raises(TypeError):
                await add(1, 2, 3)  # type: ignore[call-arg]
        finally:
            await c.close()

        # The first client connected is the default one of submitters given none.
        c = await s.connect(dev.url)
        try:
            s.set_default_client(c)

            @s.task("add")
            def add2(a: int, b: int) -> int: ...
            assert await (await add2(1, 2)).result(timeout=20) == 3
        finally:
            await c.close()
    run(main())


def test_duplicate(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            own = uid("dup")
            h = await c.submit("add", 1, 2, id=own)
            assert await h.result(timeout=20) == 3
            # Its outcome is kept: the id stays taken; the error carries a handle to the task.
            with pytest.raises(s.Duplicate) as e:
                await c.submit("add", 1, 2, id=own)
            assert e.value.handle.id == own and await e.value.handle.result(timeout=5) == 3
            # Queued: the server refuses a second task on the subject.
            q = uid("dupq")
            await c.submit("add", 1, 2, id=q, queue=NOBODY)
            with pytest.raises(s.Duplicate):
                await c.submit("add", 1, 2, id=q, queue=NOBODY)
            await (await c.open(q)).cancel()
        finally:
            await c.close()
    run(main())


def test_failures(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            with pytest.raises(s.UnknownFunc) as e:
                await (await c.submit("nosuch", 1)).result(timeout=20)
            assert e.value.kind == "unknown_func" and "nosuch: unknown function" in str(e.value)
            assert e.value.status == "failed"
            with pytest.raises(s.BadArgs) as e2:
                await (await c.submit("add", "x", 3)).result(timeout=20)
            assert str(e2.value) == 'add: arg 1: want int, got string "x"'
            with pytest.raises(s.BadArgs):
                await (await c.submit("add", 1, 2, kwargs={"scale": 2})).result(timeout=20)
            with pytest.raises(s.BadArgs):
                await (await c.submit("scaled_add", 1, 2, kwargs={"nope": 2})).result(timeout=20)
            with pytest.raises(s.TaskFailed) as e3:
                await (await c.submit("fail", "boom")).result(timeout=20)
            assert type(e3.value) is s.TaskFailed and e3.value.kind == "error" and str(e3.value) == "fail: boom"
            with pytest.raises(s.TaskFailed) as e4:
                await (await c.submit("fail", "boom", max_attempts=2)).result(timeout=30)
            assert e4.value.status == "dead"
            # The task's time limit: the worker ends it as a timeout.
            h = await c.submit("sleep", 10_000, timeout=0.2)
            assert h.metadata["timeout_ms"] == 200
            with pytest.raises(s.Timeout) as e5:
                await h.result(timeout=20)
            assert "sleep: timed out" in str(e5.value)
            # The wait's time limit: the task goes on.
            h = await c.submit("sleep", 10_000)
            t0 = time.monotonic()
            with pytest.raises(s.WaitTimeout):
                await h.result(timeout=0.3)
            assert time.monotonic() - t0 < 5
            assert not await h.is_ready()
            await h.cancel()
        finally:
            await c.close()
    run(main())


def test_bad_input_refused_at_submit(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            for call in (
                lambda: c.submit("add", 1, 2, id="not ok"),
                lambda: c.submit("add", 1, 2, queue="a.b"),
                lambda: c.submit("", 1),
                lambda: c.submit("echo", {1, 2}),  # a set: no wire type
                lambda: c.submit("echo", float("nan"), json=True),
                lambda: c.submit("add", 1, 2, result_ttl=0.5),
                lambda: c.submit("add", 1, 2, result_ttl=400 * 24 * 3600),
                lambda: c.submit("add", 1, 2, timeout=-1),
                lambda: c.submit("add", 1, 2, max_attempts=0),
                lambda: c.submit("add", 1, 2, meta={"n": 1}),  # type: ignore[dict-item]
                lambda: c.submit("add", 1, 2, kwargs={1: 2}),  # type: ignore[dict-item]
                lambda: c.submit("add", 1, 2, task_ttl=0.1),
            ):
                with pytest.raises(s.BadOption):
                    await call()
            with pytest.raises(s.EnvelopeTooLarge):
                await c.submit("echo", "x" * (c.nc.max_payload + 1))
            with pytest.raises(s.NotFound):
                await c.open(uid("never"))
        finally:
            await c.close()
    run(main())


def test_status_pending_and_cancel_pending(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY, meta={"user": "ann"})
            assert await h.status() is s.Status.PENDING
            assert not await h.is_ready()
            await h.cancel()
            assert await h.status() is s.Status.CANCELLED
            with pytest.raises(s.Cancelled) as e:
                await h.result(timeout=5)
            assert e.value.status == "cancelled"
            with pytest.raises(s.Finished):
                await h.cancel()
            o = await h.wait(timeout=5)
            assert o.record["meta"] == {"user": "ann"} and o.record["func"] == "add"
            with pytest.raises(s.NotFound):
                await (s.Handle(c, uid("never"), "default")).cancel()
        finally:
            await c.close()
    run(main())


def test_cancel_running(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("sleep", 30_000)
            await until(lambda: _is(h, s.Status.RUNNING))
            waiter = asyncio.ensure_future(h.result(timeout=30))
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            await h.cancel()
            with pytest.raises(s.Cancelled):
                await waiter
            assert time.monotonic() - t0 < 10
            assert await h.status() is s.Status.CANCELLED
        finally:
            await c.close()
    run(main())


async def _is(h: s.Handle[Any], st: s.Status) -> bool:
    return await h.status() is st


def test_items(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("count", 60)  # an item every 50 ms: 3 s in all
            got, ready_at_first = [], None
            async for it in h.items(timeout=30):
                if ready_at_first is None:
                    ready_at_first = await h.is_ready()
                got.append(it)
            assert got == list(range(60))
            assert ready_at_first is False, "the first item came only once the task had ended"
            assert (await h.wait(timeout=5)).items == 60
            # Attached after the end: every item, from the first.
            assert [x async for x in h.items(timeout=10)] == list(range(60))
            # In JSON too.
            hj = await c.submit("count", 3, json=True)
            assert [x async for x in hj.items(timeout=10)] == [0, 1, 2]
            # A task that streams nothing: no items, the end comes with its outcome.
            ha = await c.submit("add", 1, 1)
            assert [x async for x in ha.items(timeout=10)] == []
            hf = await c.submit("nosuch")
            with pytest.raises(s.UnknownFunc):
                async for _ in hf.items(timeout=10):
                    pass
            # Cancelled midway: the items so far, then Cancelled.
            hc = await c.submit("count", 1000)
            seen = []
            with pytest.raises(s.Cancelled):
                async for x in hc.items(timeout=30):
                    seen.append(x)
                    if x == 3:
                        await hc.cancel()
            assert seen[:4] == [0, 1, 2, 3] and len(seen) < 1000
            # Breaking out stops reading.
            hb = await c.submit("count", 5)
            async for x in hb.items(timeout=10):
                break
            assert x == 0
        finally:
            await c.close()
    run(main())


def test_progress(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("work", 5, 150)
            assert await h.progress() is None or (await h.progress()).done <= 5  # type: ignore[union-attr]
            reports: list[s.Progress] = []
            o = await h.watch_progress(reports.append, timeout=30)
            assert o.status is s.Status.COMPLETED and o.result == "done 5 steps"
            assert reports, "no progress report came"
            dones = [p.done for p in reports]
            assert dones == sorted(dones) and len(set(dones)) == len(dones)
            assert all(p.total == 5 for p in reports)
            assert reports[-1].note.startswith("step ")
            # An async callback, through result().
            h = await c.submit("work", 3, 150)
            seen: list[int] = []

            async def cb(p: s.Progress) -> None:
                seen.append(p.done)
            assert await h.result(timeout=30, on_progress=cb) == "done 3 steps"
            assert seen and seen == sorted(seen)
            p = await h.progress()
            assert p is not None and p.total == 3 and p.done >= 1
            # Read during the run.
            h = await c.submit("work", 4, 300)
            await until(lambda: _has_progress(h))
            p = await h.progress()
            assert p is not None and 1 <= p.done <= 4
            await h.result(timeout=30)
        finally:
            await c.close()
    run(main())


async def _has_progress(h: s.Handle[Any]) -> bool:
    return await h.progress() is not None


OPENER = """
import sys
from strand_client import sync
with sync.connect(sys.argv[1]) as c:
    if sys.argv[2] == "open":
        h = c.open(sys.argv[3])
        print(h.func, h.metadata["meta"].get("user"), h.result(timeout=30))
    else:
        h = c.submit("add", 20, 22, id=sys.argv[3])
        print(h.id)
"""


def test_open_from_another_process(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("work", 3, 200, meta={"user": "ann"})
            out = subprocess.run([PY, "-c", OPENER, dev.url, "open", h.id], env=python_env(), capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == "work ann done 3 steps"
            # And the other way: a task submitted by another process, opened here by id alone.
            other = uid("other")
            out = subprocess.run([PY, "-c", OPENER, dev.url, "submit", other], env=python_env(), capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            ho = await c.open(other)
            assert ho.queue == "default" and ho.func == "add"
            assert await ho.result(timeout=20) == 42
        finally:
            await c.close()
    run(main())


def test_result_ttl_expiry(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            own = uid("ttl")
            h = await c.submit("add", 1, 2, id=own, result_ttl=1)
            assert h.metadata["result_ttl_ms"] == 1000
            assert await h.result(timeout=20) == 3
            await until(lambda: _is(h, s.Status.UNKNOWN), timeout=30, every=0.2)
            assert not await h.is_ready()
            with pytest.raises(s.NotFound):
                await c.open(own)
            with pytest.raises(s.NotFound):
                await h.cancel()
            # The id is free again.
            h2 = await c.submit("add", 2, 2, id=own)
            assert await h2.result(timeout=20) == 4
        finally:
            await c.close()
    run(main())


def test_server_restart_while_waiting(own_dev: Any) -> None:
    """The server (and its worker) is killed while a caller waits for a
    running task; it comes back on the same port and data, the task is
    delivered again, and the wait ends with its result, without polling."""
    d: Dev = own_dev(env={"STRAND_ACK_WAIT": "2s"}, args=["--sync", "always"])

    async def main() -> None:
        reconnects = 0

        async def reconnected() -> None:
            nonlocal reconnects
            reconnects += 1
        c = await s.connect(d.url, reconnect_time_wait=0.2, reconnected_cb=reconnected)
        try:
            h = await c.submit("work", 4, 500)
            await until(lambda: _is(h, s.Status.RUNNING))
            waiter = asyncio.ensure_future(h.wait(timeout=90))
            await asyncio.sleep(0.3)
            d.kill()  # SIGKILL by PID, mid-task
            await asyncio.sleep(0.5)
            assert not waiter.done()
            d.start()
            o = await waiter
            assert o.status is s.Status.COMPLETED and o.result == "done 4 steps"
            assert o.attempt == 2, "the task should have run again after the crash"
            assert reconnects >= 1
            assert await (await c.submit("add", 1, 1)).result(timeout=20) == 2
        finally:
            await c.close()
    run(main())


def test_outcome_written_while_disconnected(own_dev: Any) -> None:
    """An outcome written while the waiter's connection is down is read once it reconnects."""
    d: Dev = own_dev(env={"STRAND_SHUTDOWN_TIMEOUT": "100ms"})

    async def main() -> None:
        c = await s.connect(d.url, reconnect_time_wait=2)
        other = await s.connect(d.url)
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY)
            waiter = asyncio.ensure_future(h.wait(timeout=60))
            await asyncio.sleep(0.3)
            # Cut the waiter's connection only (it reconnects 2 s after its
            # last attempt): the other connection cancels meanwhile, and the
            # event of that is sent while the waiter has no subscription.
            c.nc._transport.close()  # type: ignore[union-attr]
            await until(lambda: _reconnecting(c), timeout=5, every=0.01)
            await (await other.open(h.id, NOBODY)).cancel()
            assert c.nc.is_reconnecting, "reconnected before the cancel: the case is not tested"
            o = await waiter
            assert o.status is s.Status.CANCELLED
        finally:
            await other.close()
            await c.close()
    run(main())


async def _reconnecting(c: s.Client) -> bool:
    return bool(c.nc.is_reconnecting)


def test_stream_callbacks(dev: Dev) -> None:
    """The original strand's on_iter / on_end / on_error."""
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            items: list[Any] = []
            ends: list[s.Outcome] = []
            errors: list[s.StrandError] = []
            o = await (await c.submit("count", 3)).stream(items.append, ends.append, errors.append, timeout=20)
            assert items == [0, 1, 2] and len(ends) == 1 and ends[0] is o and o.items == 3 and not errors

            async def on_error(e: s.StrandError) -> None:
                errors.append(e)
            assert await (await c.submit("fail", "boom")).stream(items.append, ends.append, on_error,
                                                                 timeout=20) is None
            assert len(errors) == 1 and isinstance(errors[0], s.TaskFailed) and str(errors[0]) == "fail: boom"
            assert len(ends) == 1
            o = await (await c.submit("add", 2, 3)).stream(on_end=ends.append, timeout=20)
            assert o is not None and o.result == 5 and ends[-1] is o
            with pytest.raises(s.UnknownFunc):
                await (await c.submit("nosuch")).stream(timeout=20)
        finally:
            await c.close()
    run(main())


def test_unreadable_outcome_is_an_error(dev: Dev) -> None:
    """A record this client cannot decode fails the wait with a readable StrandError, not a crash."""
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY)
            waiter = asyncio.ensure_future(h.result(timeout=20))
            await asyncio.sleep(0.2)
            await c.nc.jetstream().publish(f"$KV.STRAND.r.{NOBODY}.{h.id}", b"\xc1", headers={"Nats-TTL": "60s"})
            with pytest.raises(s.StrandError) as e:
                await waiter
            assert not isinstance(e.value, s.TaskFailed) and "not an outcome record" in str(e.value)
            with pytest.raises(s.StrandError):
                await h.status()
        finally:
            await c.close()
    run(main())


def test_leader_election_rereads(dev: Dev) -> None:
    """KV_STRAND electing a leader (its advisory) makes every waiter read
    its outcome again, at once and a second later: the old leader may have
    stored outcomes it never republished, and a replica may lag."""
    async def main() -> None:
        c = await s.connect(dev.url)
        other = await s.connect(dev.url)
        woken = 0
        wake = c._wake

        def counting() -> None:
            nonlocal woken
            woken += 1
            wake()
        c._wake = counting  # type: ignore[method-assign]
        await c.nc.flush()  # its subscription to the advisory is the server's
        try:
            await other.nc.publish(f"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.{c.names.kv_stream}", b"{}")
            await other.nc.flush()
            await until(lambda: _at_least(lambda: woken, 1), timeout=5, every=0.01)
            await until(lambda: _at_least(lambda: woken, 2), timeout=5, every=0.05)
        finally:
            await other.close()
            await c.close()
    run(main())


async def _at_least(n: Any, want: int) -> bool:
    return bool(n() >= want)


def test_leader_election_rereads_own_connection(dev: Dev) -> None:
    """A Client made over a connection of the caller's follows the
    elections too, from its first wait."""
    import nats

    async def main() -> None:
        nc = await nats.connect(dev.url)
        c = s.Client(nc)
        woken = 0
        wake = c._wake

        def counting() -> None:
            nonlocal woken
            woken += 1
            wake()
        c._wake = counting  # type: ignore[method-assign]
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY)
            waiter = asyncio.ensure_future(h.wait(timeout=30))
            await asyncio.sleep(0.3)  # the wait has subscribed
            await nc.flush()
            await nc.publish(f"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.{c.names.kv_stream}", b"{}")
            await nc.flush()
            await until(lambda: _at_least(lambda: woken, 1), timeout=5, every=0.01)
            await (await c.open(h.id, NOBODY)).cancel()
            assert (await waiter).status is s.Status.CANCELLED
        finally:
            await c.close()
    run(main())
