"""Delayed tasks (at=, after=) against a real `strand dev`: the server keeps
them in its schedules stream until their time (docs/protocol.md, "Delayed
tasks and schedules"). No tight timing: a task is checked not to run before
its time by its outcome's start, and to run eventually by a generous wait."""

from __future__ import annotations

import asyncio
import datetime
import time

import pytest

import strand_client as s
from strand_client import _wire as w

from conftest import Dev, run
from test_client import NOBODY, uid

UTC = datetime.timezone.utc


@pytest.mark.parametrize("use_json", [False, True], ids=["msgpack", "json"])
def test_delayed_runs_at_its_time(dev: Dev, use_json: bool) -> None:
    async def main() -> None:
        c = await s.connect(dev.url, json=use_json)
        try:
            asked = datetime.datetime.now(UTC) + datetime.timedelta(seconds=2)
            h = await c.submit("add", 2, 3, after=2)
            assert h.run_at is not None and h.run_at >= asked.replace(microsecond=0)
            assert h.metadata["run_at"] == h.run_at
            assert await h.status() is s.Status.SCHEDULED
            assert not await h.is_ready()
            assert await h.result(timeout=60) == 5  # waits through the delay, pushed
            o = await h.wait(timeout=5)
            assert o.status is s.Status.COMPLETED
            assert o.started >= int(asked.timestamp() * 1000), "ran before its time"
            assert await h.status() is s.Status.COMPLETED
        finally:
            await c.close()
    run(main())


def test_delayed_at_open_duplicate_cancel(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            tid = uid("at")
            at = datetime.datetime.now(UTC) + datetime.timedelta(seconds=4)
            h = await c.submit("add", 1, 2, id=tid, at=at, meta={"user": "ann"})
            # Another handle, its queue found from the schedule.
            o = await c.open(tid)
            assert o.queue == "default" and o.func == "add"
            assert await o.status() is s.Status.SCHEDULED
            assert o.run_at == h.run_at and o.metadata["meta"] == {"user": "ann"}
            assert o.metadata["args"] == [1, 2]
            # The id is taken, delayed or not.
            with pytest.raises(s.Duplicate) as d:
                await c.submit("add", 1, 2, id=tid, after=10)
            assert d.value.handle is not None and d.value.handle.id == tid
            assert d.value.handle.run_at is None  # the refused submission's time is not the task's
            with pytest.raises(s.Duplicate):
                await c.submit("add", 1, 2, id=tid)
            await o.cancel()
            assert await h.status() is s.Status.CANCELLED
            with pytest.raises(s.Cancelled):
                await h.result(timeout=5)
            with pytest.raises(s.Finished):
                await h.cancel()
            # It never runs: past its time, still no outcome of a worker.
            assert h.run_at is not None
            await asyncio.sleep(max(0.0, (h.run_at - datetime.datetime.now(UTC)).total_seconds()) + 3)
            n = c.names
            dl = s._client._Deadline(5)
            assert await c._get(n.kv_stream, n.key("r", "default", tid), dl) is None, "a cancelled task ran"
            assert await c._get(n.schedules_stream, n.sched("due", "default", tid), dl) is None
            assert await c._get(n.tasks_stream, n.task("default", tid), dl) is None
            assert await h.status() is s.Status.CANCELLED
        finally:
            await c.close()
    run(main())


def test_delayed_wire(dev: Dev) -> None:
    """What is stored is what strand's Go writer publishes for a delayed task."""
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            tid = uid("wire")
            h = await c.submit("add", 2, 3, queue=NOBODY, id=tid, after=600, task_ttl=3600, timeout=5)
            n = c.names
            rec = await c._get(n.schedules_stream, f"strand.sched.at.{NOBODY}.{tid}", s._client._Deadline(5))
            assert rec is not None
            hd = rec.headers
            assert hd["Nats-Schedule"] == w.schedule_at(h.run_at or datetime.datetime.now(UTC))
            assert hd["Nats-Schedule"].startswith("@at ") and hd["Nats-Schedule"].endswith("Z")
            assert hd["Nats-Schedule-Target"] == f"strand.sched.fire.{NOBODY}.due.{tid}"
            assert hd["Nats-Schedule-TTL"] == "1h0m0s" and hd["Strand-Task-TTL"] == "1h0m0s"
            assert hd["Content-Type"] == "application/msgpack" and hd["Strand-Func"] == "add"
            assert hd["Strand-Own-Id"] == "1"
            env = w.decode_record(rec.data)
            assert env == {"v": 2, "id": tid, "func": "add", "args": [2, 3], "queue": NOBODY,
                           "created": env["created"], "timeout_ms": 5000}
            assert rec.data == w.encode(env, w.MSGPACK)
            await h.cancel()
            assert await c._get(n.schedules_stream, f"strand.sched.at.{NOBODY}.{tid}", s._client._Deadline(5)) is None
        finally:
            await c.close()
    run(main())


def test_delayed_refusals_and_past_times(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url, task_ttl=60)
        try:
            now = datetime.datetime.now(UTC)
            with pytest.raises(s.BadOption, match="not both"):
                await c.submit("add", 1, 2, at=now + datetime.timedelta(seconds=5), after=5)
            with pytest.raises(s.BadOption, match="beyond the task TTL"):
                await c.submit("add", 1, 2, after=120)
            with pytest.raises(s.BadOption, match="beyond the task TTL"):
                await c.submit("add", 1, 2, at=now + datetime.timedelta(hours=1))
            with pytest.raises(s.BadOption, match="at: want a datetime"):
                await c.submit("add", 1, 2, at=time.time() + 5)  # type: ignore[arg-type]
            with pytest.raises(s.BadOption, match="after: want"):
                await c.submit("add", 1, 2, after="5s")  # type: ignore[arg-type]
            # A per-task TTL lets a longer delay through.
            h = await c.submit("add", 1, 2, after=120, task_ttl=300, queue=NOBODY)
            assert await h.status() is s.Status.SCHEDULED
            await h.cancel()
            # A time not in the future runs at once.
            for opts in ({"at": now - datetime.timedelta(minutes=5)}, {"after": -5}, {"after": 0},
                         {"at": datetime.datetime.now() - datetime.timedelta(seconds=1)}):
                h = await c.submit("add", 2, 3, **opts)  # type: ignore[arg-type]
                assert h.run_at is None and "run_at" not in h.metadata
                assert await h.status() is not s.Status.SCHEDULED
                assert await h.result(timeout=20) == 5
        finally:
            await c.close()
    run(main())


def test_delayed_sync(dev: Dev) -> None:
    from strand_client import sync
    c = sync.connect(dev.url)
    try:
        h = c.submit("add", 4, 5, after=datetime.timedelta(seconds=1))
        assert h.run_at is not None and h.status() is s.Status.SCHEDULED
        assert h.result(timeout=60) == 9
    finally:
        c.close()


def test_schedule_at_rounds_up() -> None:
    t = datetime.datetime(2026, 12, 24, 17, 0, 0, tzinfo=UTC)
    assert w.schedule_at(t) == "@at 2026-12-24T17:00:00Z"
    assert w.schedule_at(t + datetime.timedelta(microseconds=1)) == "@at 2026-12-24T17:00:01Z"
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert w.schedule_at(datetime.datetime(2026, 12, 24, 18, 0, 0, tzinfo=paris)) == "@at 2026-12-24T17:00:00Z"
    assert w.parse_schedule_at("@at 2026-12-24T17:00:00Z") == t
    assert w.parse_schedule_at("@every 1s") is None


def test_named_schedule_put_list_replace_delete(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            name = uid("sched")
            await c.put_schedule(name, "@every 1s", "add", 1, 2, meta={"user": "ann"})
            n = c.names
            rec = await c._get(n.schedules_stream, f"strand.sched.cron.default.{name}", s._client._Deadline(5))
            assert rec is not None
            hd = rec.headers
            assert hd["Nats-Schedule"] == "@every 1s" and hd["Strand-Schedule"] == "@every 1s"
            assert hd["Nats-Schedule-Target"] == f"strand.sched.fire.default.tick.{name}"
            assert hd["Nats-Schedule-TTL"] == "336h0m0s" and hd["Strand-Task-TTL"] == "336h0m0s"
            assert w.decode_record(rec.data) == {"v": 2, "id": name, "func": "add", "args": [1, 2],
                                                 "queue": "default", "meta": {"user": "ann"}}
            info = await c.get_schedule(name)
            assert (info.name, info.queue, info.func, info.spec, info.paused) == (name, "default", "add", "@every 1s",
                                                                                False)
            assert list(info.args) == [1, 2] and info.next_run is not None
            assert name in [x.name for x in await c.schedules()]

            async def fired() -> bool:
                return bool((await c.get_schedule(name)).last_task)
            from test_client import until
            await until(fired, timeout=60, every=0.5)
            info = await c.get_schedule(name)
            assert info.last_task.startswith(name + "-") and info.last_run is not None
            h = await c.open(info.last_task)
            assert await h.result(timeout=30) == 3
            assert h.metadata["meta"].get("schedule") == name

            # Replaced in another queue: one schedule of that name, in the new queue.
            await c.put_schedule(name, "0 9 * * mon-fri", "add", 5, 6, queue=NOBODY, tz="Europe/Paris")
            info = await c.get_schedule(name)
            assert (info.queue, info.spec, info.tz) == (NOBODY, "0 9 * * mon-fri", "Europe/Paris")
            rec = await c._get(n.schedules_stream, f"strand.sched.cron.{NOBODY}.{name}", s._client._Deadline(5))
            assert rec is not None and rec.headers["Nats-Schedule"] == "0 0 9 * * mon-fri"
            assert rec.headers["Nats-Schedule-Time-Zone"] == "Europe/Paris"
            assert await c._get(n.schedules_stream, f"strand.sched.cron.default.{name}", s._client._Deadline(5)) is None
            assert [x.queue for x in await c.schedules() if x.name == name] == [NOBODY]

            await c.delete_schedule(name)
            with pytest.raises(s.NotFound):
                await c.get_schedule(name)
            with pytest.raises(s.NotFound):
                await c.delete_schedule(name)
            assert name not in [x.name for x in await c.schedules()]
        finally:
            await c.close()
    run(main())


def test_named_schedule_refusals(dev: Dev) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            name = uid("bad")
            for spec, tz, match in (("@every 500ms", "", "at least 1s"), ("@every soon", "", "Go duration"),
                                    ("@every 5", "", "Go duration"), ("* * *", "", "want 5 fields"), ("@every 5s", "Europe/Paris", "no time zone"),
                                    ("61 * * * *", "", ""), ("0 9 * * *", "Mars/Olympus", ""),
                                    ("0 9 * * *", "Local", "IANA")):
                with pytest.raises(s.BadOption, match=match or None):
                    await c.put_schedule(name, spec, "add", 1, 2, tz=tz)
            with pytest.raises(s.BadOption, match="schedule name"):
                await c.put_schedule("has.dot", "@every 5s", "add")
            with pytest.raises(s.BadOption, match="schedule name"):
                await c.put_schedule("x" * 101, "@every 5s", "add")
            with pytest.raises(s.NotFound):
                await c.get_schedule(name)  # nothing was stored
        finally:
            await c.close()
    run(main())


def test_schedule_patterns() -> None:
    assert w.schedule_pattern("@every 90s") == ("@every 1m30s", 90.0)
    assert w.schedule_pattern("@every 1500ms") == ("@every 1.5s", 1.5)
    assert w.schedule_pattern("*/5 * * * *") == ("0 */5 * * * *", None)
    assert w.schedule_pattern("30 0 9 * * *") == ("30 0 9 * * *", None)
    assert w.schedule_pattern("@hourly")[0] == "0 0 * * * *"
    assert w.schedule_pattern("@weekly")[0] == "0 0 0 * * 0"


def test_named_schedule_pause_resume(dev: Dev) -> None:
    async def main() -> None:
        from test_client import until
        c = await s.connect(dev.url)
        try:
            name = uid("pause")
            await c.put_schedule(name, "@every 1s", "add", 1, 1)
            subject = f"strand.sched.cron.default.{name}"

            async def fired() -> bool:
                return bool((await c.get_schedule(name)).last_task)
            await until(fired, timeout=60, every=0.5)
            await c.pause_schedule(name)
            await c.pause_schedule(name)  # paused already: nothing to do
            info = await c.get_schedule(name)
            assert info.paused and info.next_run is None and info.spec == "@every 1s"
            rec = await c._get(c.names.schedules_stream, subject, s._client._Deadline(5))
            assert rec is not None and rec.headers.get("Strand-Paused") == "1"
            assert "Nats-Schedule" not in rec.headers and rec.headers["Strand-Schedule"] == "@every 1s"
            await asyncio.sleep(1.5)  # a firing made before the pause may still be queued
            before = (await c.get_schedule(name)).last_task
            await asyncio.sleep(3)
            assert (await c.get_schedule(name)).last_task == before, "a paused schedule fired"
            await c.resume_schedule(name)
            info = await c.get_schedule(name)
            assert not info.paused and info.next_run is not None
            rec = await c._get(c.names.schedules_stream, subject, s._client._Deadline(5))
            assert rec is not None and rec.headers["Nats-Schedule"] == "@every 1s" and "Strand-Paused" not in rec.headers

            async def fired_again() -> bool:
                return (await c.get_schedule(name)).last_task not in ("", before)
            await until(fired_again, timeout=60, every=0.5)
            await c.delete_schedule(name)
            with pytest.raises(s.NotFound):
                await c.pause_schedule(name)
        finally:
            await c.close()
    run(main())


def test_delayed_due_without_worker_is_pending(dev: Dev) -> None:
    """Fired while no worker of its queue runs: due, pending, cancellable."""
    async def main() -> None:
        from test_client import until
        c = await s.connect(dev.url)
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY, after=1)
            assert await h.status() is s.Status.SCHEDULED

            async def due() -> bool:
                return await h.status() is s.Status.PENDING
            await until(due, timeout=60, every=0.2)
            n = c.names
            assert await c._get(n.schedules_stream, n.sched("due", NOBODY, h.id), s._client._Deadline(5)) is not None
            o = await c.open(h.id)  # found from its firing
            assert o.queue == NOBODY and o.func == "add"
            await h.cancel()
            assert await h.status() is s.Status.CANCELLED
        finally:
            await c.close()
    run(main())
