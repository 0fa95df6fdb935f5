"""The asyncio client: connect, submit, Handle, open, @task."""

from __future__ import annotations

import asyncio
import json as _json
import datetime
import functools
import inspect
import time
import uuid
from dataclasses import dataclass, field
from typing import (Any, AsyncGenerator, Awaitable, Callable, Generic, Mapping, Optional, ParamSpec, Sequence,
                    TypeVar, Union, cast)

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from . import _wire as w
from ._wire import Duration, Progress, Status
from .errors import (BadOption, Duplicate, EnvelopeTooLarge, Finished, NotFound, StrandError, TaskFailed,
                     Unavailable, WaitTimeout, task_error)


R = TypeVar("R")
P = ParamSpec("P")

ProgressCallback = Callable[[Progress], Union[None, Awaitable[None]]]
"""Called with each progress report of a task; may be a coroutine function."""

_RECONNECTED = object()  # put in every waiter's queue when events may have been lost: read the outcome again
_RESYNC_AFTER = (1.0, 3.0, 10.0)  # and again these seconds later: a replica answering a read may lag
_TRANSIENT = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionReconnectingError,
              nats.js.errors.NoStreamResponseError, asyncio.TimeoutError)
_READ_TIMEOUT = 5.0  # seconds one read may take
_UNAVAILABLE_AFTER = 30.0  # seconds a read without a deadline keeps retrying


@dataclass(frozen=True)
class Outcome:
    """A task's final record, as the protocol reads it: a cancellation record
    reads as cancelled. ``record`` is the whole decoded record."""

    status: Status
    result: Any = None
    error_kind: str = ""
    error_message: str = ""
    attempt: int = 0
    worker: str = ""
    started: int = 0  # unix ms
    finished: int = 0  # unix ms
    items: int = 0
    record: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> "Outcome":
        err = cast(Mapping[str, Any], rec["error"]) if isinstance(rec.get("error"), Mapping) else {}
        return cls(status=Status.of(rec.get("status")), result=rec.get("result"),
                   error_kind=str(err.get("kind", "")), error_message=str(err.get("message", "")),
                   attempt=_int(rec.get("attempt")), worker=str(rec.get("worker") or ""),
                   started=_int(rec.get("started")), finished=_int(rec.get("finished")),
                   items=_int(rec.get("items")), record=dict(rec))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


@dataclass
class _Rec:
    """One stored message, as a direct get returns it."""

    subject: str
    data: bytes
    headers: dict[str, str]
    seq: int
    time: Optional[datetime.datetime]


@dataclass
class _Look:
    """A task as the protocol reads it: its outcome; else its envelope's
    message (queued, delayed or due), its state, and for a delayed task
    (scheduled) the time it runs. All None: nothing of it is left."""

    outcome: Optional[Outcome] = None
    task: Optional[_Rec] = None
    state: Optional[dict[str, Any]] = None
    scheduled: bool = False  # delayed: task is its @at schedule
    due: bool = False  # due: task is the firing, not yet queued
    run_at: Optional[datetime.datetime] = None

    @property
    def status(self) -> Status:
        if self.outcome is not None:
            return self.outcome.status
        if self.task is None:
            return Status.UNKNOWN
        if self.scheduled:
            return Status.SCHEDULED
        if self.state is not None:
            return Status.of(self.state.get("status"))
        return Status.PENDING


@dataclass(frozen=True)
class ScheduleInfo:
    """A named schedule as the server keeps it. spec: as it was given
    (``@every 30s``, a cron expression); tz: its time zone ("" = UTC);
    created: when it was created, replaced or resumed; last_run and
    last_task: its last firing a worker queued and that firing's task id
    (open it with ``client.open``), None before the first; next_run: its
    next firing when known (an ``@every`` schedule's, or as the server
    announced it at the last firing), None while paused."""

    name: str
    queue: str
    func: str
    spec: str
    tz: str = ""
    paused: bool = False
    created: Optional[datetime.datetime] = None
    last_run: Optional[datetime.datetime] = None
    last_task: str = ""
    next_run: Optional[datetime.datetime] = None
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    format: str = "msgpack"


def _parse_time(s: str) -> Optional[datetime.datetime]:
    """An RFC 3339 time with up to nanoseconds, as the server writes Nats-Time-Stamp."""
    if not s:
        return None
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        s = head + "." + rest[:i][:6].ljust(6, "0") + rest[i:]
    try:
        return datetime.datetime.fromisoformat(s)
    except ValueError:
        return None


class _Deadline:
    """A time limit in seconds from now; None: none."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.at = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


class Client:
    """A connection to strand: submits tasks and opens handles. Make one
    with ``await connect(...)``; close it with ``await client.close()`` (or
    ``async with``)."""

    def __init__(self, nc: NATS, *, prefix: str = w.DEFAULT_PREFIX, queue: str = w.DEFAULT_QUEUE,
                 json: bool = False, task_ttl: Optional[Duration] = None,
                 result_ttl: Optional[Duration] = None) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._jsm = nc.jsm()
        self.names = w.Names(prefix)
        self.queue = w.valid_queue(queue)
        self.json = bool(json)
        self.task_ttl = _ttl(task_ttl, w.DEFAULT_TASK_TTL_S, "task_ttl", None)
        self.result_ttl = _ttl(result_ttl, w.DEFAULT_RESULT_TTL_S, "result_ttl", w.MAX_RESULT_TTL_S)
        self._waiters: set[asyncio.Queue[Any]] = set()
        self._schedules_ok = False  # the schedules stream was seen, with message schedules
        self._flow_ok = False  # the flow-control bucket was made or seen
        self._settling: set[asyncio.TimerHandle] = set()
        self._closed = False
        self._following = False  # subscribed to the bucket's leader elections

    @property
    def nc(self) -> NATS:
        """The underlying nats-py connection."""
        return self._nc

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Drains and closes the connection."""
        global _default
        if _default is self:
            _default = None
        self._closed = True
        for t in self._settling:
            t.cancel()
        self._settling.clear()
        if not self._nc.is_closed:
            await self._nc.drain()

    def _reconnected(self) -> None:
        """Events may have been lost (a reconnect; the bucket's stream electing
        a leader, whose old one may have stored outcomes it never
        republished): every waiter reads again now and at _RESYNC_AFTER
        (docs/protocol.md, "Waiting for a result")."""
        if self._closed:
            return
        self._wake()
        loop = asyncio.get_running_loop()
        for delay in _RESYNC_AFTER:
            box: list[asyncio.TimerHandle] = []

            def later(box: list[asyncio.TimerHandle] = box) -> None:
                self._settling.discard(box[0])
                if not self._closed:
                    self._wake()
            box.append(loop.call_later(delay, later))
            self._settling.add(box[0])

    def _wake(self) -> None:
        for q in list(self._waiters):
            q.put_nowait(_RECONNECTED)

    async def _follow_leaders(self) -> None:
        """Subscribes, once, to the bucket's leader elections (connect does,
        and the first wait of a Client made over a connection of its own)."""
        if self._following:
            return
        self._following = True

        async def elected(_msg: Any) -> None:
            self._reconnected()
        await self._nc.subscribe(f"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.{self.names.kv_stream}", cb=elected)

    # Submitting

    async def submit(self, func: str, *args: Any, queue: Optional[str] = None, id: Optional[str] = None,
                     kwargs: Optional[Mapping[str, Any]] = None, timeout: Optional[Duration] = None,
                     max_attempts: Optional[int] = None, result_ttl: Optional[Duration] = None,
                     meta: Optional[Mapping[str, str]] = None, json: Optional[bool] = None,
                     task_ttl: Optional[Duration] = None, trace: str = "",
                     at: Optional[datetime.datetime] = None, after: Optional[Duration] = None,
                     priority: Optional[str] = None, key: Optional[str] = None,
                     unique_for: Union[Duration, str, None] = None,
                     debounce: Optional[Duration] = None) -> "Handle[Any]":
        """Queues a call of func(*args, **kwargs) and returns a handle to it at once.

        queue: the queue (default: the client's, ``default``). id: your own
        task id, an idempotency key (default: a generated UUIDv7). timeout:
        the handler's time limit. max_attempts: runs before the task is dead
        (default: the worker's). result_ttl: how long its outcome is kept
        (1 s to 365 days; default the worker's, 24 h). meta: free string
        metadata. json: send a JSON envelope (results come back as JSON)
        instead of msgpack. task_ttl: the longest it may wait in its queue
        (default 14 days). at: run it at this time (a datetime; naive is
        local time), after: run it after this delay (seconds or a
        timedelta) — one of them; until then its status is scheduled and
        the server keeps it (no strand process needs to be alive). A time
        not in the future runs it at once; a delay beyond the task TTL is
        refused. priority: "high", "normal" (default) or "low": the lane of
        its queue it waits in (workers take high tasks first, low ones once
        the queue holds no normal task). key: the task's flow key (one
        subject token of 1–128 of A–Z a–z 0–9 _ = -), which unique_for and
        debounce need. unique_for: a window (seconds or a timedelta, 1 s to
        the result TTL) or "finished": while a task submitted with the key
        holds it, a submit raises Duplicate with a handle to that task
        instead of queueing another (of racing submits, one wins).
        debounce: a window (1 s to the result TTL): the task starts no
        sooner, and a later submit with the key replaces it while it is
        still pending (it ends cancelled): the last submit wins. Raises
        Duplicate (with a handle to the existing task) if the id or the
        unique key is taken, BadOption for a bad argument or option,
        EnvelopeTooLarge, Unavailable.
        """
        queue = w.valid_queue(queue if queue is not None else self.queue)
        own = id is not None
        task_id = w.valid_id(id) if id is not None else uuid7()
        timeout_s = w.seconds(timeout, "timeout")
        ttl_ms = 0
        if result_ttl is not None:
            ttl_ms = int(_ttl(result_ttl, 0, "result_ttl", w.MAX_RESULT_TTL_S) * 1000)
        if max_attempts is not None and (not isinstance(max_attempts, int) or isinstance(max_attempts, bool)
                                         or max_attempts < 1):
            raise BadOption(f"max_attempts: want an integer of at least 1, got {max_attempts!r}")
        tttl = _ttl(task_ttl, self.task_ttl, "task_ttl", None)
        lane = w.valid_priority(priority)
        flow_key = w.valid_key(key) if key is not None else ""
        rttl = float(ttl_ms) / 1000 if ttl_ms else self.result_ttl
        unique, uttl, dttl = "", 0.0, 0.0
        if unique_for is not None and debounce is not None:
            raise BadOption(f"submit {func}: unique_for and debounce exclude each other")
        if (unique_for is not None or debounce is not None) and not flow_key:
            raise BadOption(f"submit {func}: unique_for and debounce need a key (key=)")
        if unique_for == "finished":
            unique, uttl = "finished", tttl + rttl  # released by the worker when the task ends
        elif unique_for is not None:
            if isinstance(unique_for, str):
                raise BadOption(f"unique_for: want a window (seconds, timedelta) or \"finished\", got {unique_for!r}")
            uttl = w.seconds(unique_for, "unique_for") or 0.0
            if uttl < w.MIN_TTL_S or uttl > rttl:
                raise BadOption(f"submit {func}: uniqueness window {uttl} s is not within 1 s and the result TTL "
                                f"({round(rttl)} s)")
            unique = "for"
        if debounce is not None:
            dttl = w.seconds(debounce, "debounce") or 0.0
            if dttl < w.MIN_TTL_S or dttl > rttl:
                raise BadOption(f"submit {func}: debounce window {dttl} s is not within 1 s and the result TTL "
                                f"({round(rttl)} s)")
        when = w.run_at(at, after)
        if when is not None:
            delay = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
            if delay > tttl:
                raise BadOption(f"submit {func}: a delay of {round(delay)} s is beyond the task TTL of "
                                f"{round(tttl)} s (task_ttl)")
            if delay <= 0:
                when = None  # a time not in the future: queued at once
        env = w.envelope(func, args, task_id=task_id, queue=queue, kwargs=kwargs,
                         timeout_ms=int(round(timeout_s * 1000)) if timeout_s else 0,
                         max_attempts=max_attempts or 0, result_ttl_ms=ttl_ms, meta=meta, trace=trace,
                         priority=lane, key=flow_key, unique=unique)
        if dttl:
            env["not_before"] = env["created"] + int(dttl * 1000)
        ct = w.JSON if (self.json if json is None else json) else w.MSGPACK
        payload = w.encode(env, ct)
        limit = self._nc.max_payload - w.HEADROOM
        if len(payload) > limit:
            raise EnvelopeTooLarge(f"submit {func}: the task is {len(payload)} bytes, the server accepts {limit}")
        handle: Handle[Any] = Handle(self, task_id, queue, func=func, envelope=env, content_type=ct)
        if unique:
            holder = await self._claim_unique(queue, flow_key, task_id, uttl, unique == "finished")
            if holder:
                raise Duplicate(f"submit {func}: key {flow_key} is held by task {holder}", Handle(self, holder, queue))
            try:
                return await self._put(handle, payload, ct, tttl, own, when, trace, lane)
            except BaseException:
                await self._release_unique(queue, flow_key, task_id)
                raise
        h = await self._put(handle, payload, ct, tttl, own, when, trace, lane)
        if dttl:
            replaced = await self._debounce(queue, flow_key, task_id, dttl)
            if replaced and replaced != task_id:
                try:
                    await self._cancel(queue, replaced, reason=f"replaced by {task_id} (debounce {flow_key})",
                                       pending_only=True)
                except (Finished, NotFound):
                    pass  # it started or ended meanwhile: it stands
        return h

    async def _put(self, handle: "Handle[Any]", payload: bytes, ct: str, tttl: float, own: bool,
                   when: Optional[datetime.datetime], trace: str, lane: str) -> "Handle[Any]":
        """Queues (or delays) a task whose envelope is made: the id checks,
        then the publish to its lane's subject."""
        queue, task_id, func = handle.queue, handle.id, handle.func
        if when is not None:
            await self._submit_delayed(handle, payload, ct, tttl, own, when, trace)
            handle._run_at = w.parse_schedule_at(w.schedule_at(when))  # not on a Duplicate's handle: another task
            return handle
        if own:
            # An id of your own stays taken while its outcome is kept.
            o = await self._outcome(queue, task_id, _Deadline(_UNAVAILABLE_AFTER))
            if o is not None:
                raise Duplicate(f"duplicate task id {task_id} ({o.status.value})", handle)
            if not lane:
                # A normal publish is not refused while the id waits in a
                # priority lane (a lane's publish is, by its headers).
                deadline = _Deadline(_UNAVAILABLE_AFTER)
                n = self.names
                for other in ("high", "low"):
                    if await self._get(n.tasks_stream, n.task(queue, task_id, other), deadline) is not None:
                        raise Duplicate(f"duplicate task id {task_id} (queued in another lane)", handle)
            # ... and while a delayed task holds it.
            if await self._schedules():
                deadline = _Deadline(_UNAVAILABLE_AFTER)
                n = self.names
                for kind in (w.SCHED_DELAYED, w.SCHED_DUE):
                    if await self._get(n.schedules_stream, n.sched(kind, queue, task_id), deadline) is not None:
                        raise Duplicate(f"duplicate task id {task_id} (scheduled)", handle)
        headers = {"Nats-TTL": w.go_duration(tttl), "Content-Type": ct, "Strand-Func": func}
        if trace:
            headers["traceparent"] = trace
        if own:
            headers["Strand-Own-Id"] = "1"
        if lane:
            # Refused while a task with this id is queued in any queue or lane.
            headers["Nats-Expected-Last-Subject-Sequence"] = "0"
            headers["Nats-Expected-Last-Subject-Sequence-Subject"] = self.names.id_subjects(task_id)
        await self._publish_task(self.names.task(queue, task_id, lane), payload, headers, handle)
        return handle

    # Flow control: uniqueness and debounce keys (docs/protocol.md, "Flow control")

    async def _flow_bucket(self) -> None:
        """Creates the flow-control bucket as strand's Go broker does (one
        replica), unless it exists."""
        n = self.names
        try:
            info = await self._nc.request(f"$JS.API.STREAM.INFO.{n.flow_stream}", b"", timeout=_READ_TIMEOUT)
            if ((_json.loads(info.data or b"{}") or {}).get("error") or {}).get("err_code") != 10059:
                return  # it exists (or the server says why not on the first write)
        except _TRANSIENT:
            pass  # the write says more
        cfg = {"name": n.flow_stream,
               "description": "strand flow control: paused queues, uniqueness and debounce keys, limits' leases",
               "subjects": [f"$KV.{n.flow_bucket}.>"], "max_msgs_per_subject": 1, "max_msgs": -1, "max_bytes": -1,
               "max_consumers": -1, "storage": "file", "num_replicas": 1, "allow_rollup_hdrs": True,
               "allow_direct": True, "discard": "new", "duplicate_window": 120 * 10**9, "allow_msg_ttl": True,
               "subject_delete_marker_ttl": 60 * 10**9, "retention": "limits"}
        msg = await self._nc.request(f"$JS.API.STREAM.CREATE.{n.flow_stream}", _json.dumps(cfg).encode(),
                                     timeout=_READ_TIMEOUT)
        err = (_json.loads(msg.data or b"{}") or {}).get("error")
        if err and err.get("err_code") not in (10058, 10065):  # in use (another config), or subjects overlap
            raise StrandError(f"create bucket {n.flow_bucket}: {err.get('description', err)}")

    async def _flow_write(self, subject: str, value: bytes, headers: dict[str, str], what: str) -> Optional[int]:
        """A write of a flow record: its sequence, or None when refused for
        its expected sequence. Creates the bucket when it is missing; retries
        while the server does not answer."""
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        wait, made = 0.05, False
        while True:
            try:
                ack = await self._js.publish(subject, value, headers=headers, timeout=_READ_TIMEOUT)
                return int(ack.seq)
            except nats.js.errors.APIError as e:
                if e.err_code == w.ERR_WRONG_LAST_SEQUENCE:
                    return None
                if not isinstance(e, nats.js.errors.ServiceUnavailableError) or deadline.passed():
                    raise StrandError(f"{what}: {e}") from e
            except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError) as e:
                if not made:
                    made = True
                    await self._flow_bucket()
                    continue
                if deadline.passed():
                    raise Unavailable(f"{what}: no answer from stream {self.names.flow_stream}: {e!r}") from e
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"{what}: no answer from stream {self.names.flow_stream}: {e!r}") from e
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    async def _flow_get(self, subject: str) -> Optional[_Rec]:
        """The last message of a flow record's subject (markers included);
        None when there is none. Makes the bucket first if it is missing."""
        if not self._flow_ok:
            await self._flow_bucket()
            self._flow_ok = True
        return await self._get_last(self.names.flow_stream, subject, _Deadline(_UNAVAILABLE_AFTER))

    async def _claim_unique(self, queue: str, key: str, task_id: str, ttl: float, until_finished: bool) -> str:
        """Claims the uniqueness key for task_id: a create, which the server
        grants once. Returns "" once claimed, else the id of the task that
        holds it (an until-finished holder that has finished is released
        first)."""
        subject = self.names.flow("u", queue, key)
        what = f"unique {key}"
        released = False
        for _ in range(10):
            last = await self._flow_get(subject)
            seq = last.seq if last is not None else 0
            if last is not None and not w.is_marker(last.data, last.headers):
                holder = last.data.decode()
                if until_finished and not released and \
                        await self._outcome(queue, holder, _Deadline(_UNAVAILABLE_AFTER)) is not None:
                    # Its worker died before it released the key: free it, claim again.
                    await self._purge_flow(subject, last.seq)
                    released = True
                    continue
                return holder
            headers = {"Nats-Expected-Last-Subject-Sequence": str(seq), "Nats-TTL": w.go_duration(-(-ttl // 1))}
            if await self._flow_write(subject, task_id.encode(), headers, what) is not None:
                return ""
        raise StrandError(f"{what}: too many producers at once")

    async def _purge_flow(self, subject: str, seq: int) -> None:
        """Purges a flow record that still has sequence seq."""
        headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-Expected-Last-Subject-Sequence": str(seq)}
        await self._flow_write(subject, b"", headers, f"release {subject}")

    async def _release_unique(self, queue: str, key: str, task_id: str) -> None:
        """Frees a uniqueness key that task_id holds (another holder's is left alone)."""
        subject = self.names.flow("u", queue, key)
        last = await self._flow_get(subject)
        if last is not None and not w.is_marker(last.data, last.headers) and last.data == task_id.encode():
            await self._purge_flow(subject, last.seq)

    async def _debounce(self, queue: str, key: str, task_id: str, ttl: float) -> str:
        """Makes task_id the holder of the debounce key, expecting the
        sequence read: the server orders racing producers, the last one
        holds it. Returns the id it replaced ("" if none)."""
        subject = self.names.flow("d", queue, key)
        for _ in range(50):
            last = await self._flow_get(subject)
            holder = ""
            if last is not None and not w.is_marker(last.data, last.headers):
                holder = last.data.decode()
            headers = {"Nats-Expected-Last-Subject-Sequence": str(last.seq if last is not None else 0),
                       "Nats-TTL": w.go_duration(-(-ttl // 1))}
            if await self._flow_write(subject, task_id.encode(), headers, f"debounce {key}") is not None:
                return holder
        raise StrandError(f"debounce {key}: too many producers at once")

    async def _schedules(self) -> bool:
        """Whether the deployment keeps delayed tasks: its schedules stream
        exists (a strand process made it) with message schedules."""
        if self._schedules_ok:
            return True
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        wait = 0.05
        while True:
            try:
                info = await self._jsm.stream_info(self.names.schedules_stream)
                self._schedules_ok = bool(info.config.allow_msg_schedules)
                return self._schedules_ok
            except nats.js.errors.NotFoundError:
                return False
            except _TRANSIENT + (nats.js.errors.ServiceUnavailableError,) as e:
                if deadline.passed():
                    raise Unavailable(f"read stream {self.names.schedules_stream}: {e!r}") from e
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    async def _submit_delayed(self, handle: "Handle[Any]", payload: bytes, ct: str, task_ttl: float, own: bool,
                              when: datetime.datetime, trace: str) -> None:
        """Publishes a delayed task as strand's Go writer does: its envelope,
        create-only, as an @at schedule whose firing the server stores on the
        task's due subject at its time."""
        n, queue, task_id = self.names, handle.queue, handle.id
        if not await self._schedules():
            raise Unavailable(f"submit {handle.func}: delayed tasks are unavailable: the stream "
                              f"{n.schedules_stream} is missing or keeps no message schedules (start a strand "
                              f"worker or strand dev on nats-server 2.14 or later)")
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        reads = [(n.tasks_stream, n.task(queue, task_id)), (n.schedules_stream, n.sched(w.SCHED_DUE, queue, task_id))]
        if own:
            reads += [(n.kv_stream, n.key("r", queue, task_id)), (n.kv_stream, n.key("c", queue, task_id))]
        found = await asyncio.gather(*(self._get(st, sub, deadline) for st, sub in reads))
        if any(r is not None for r in found):
            raise Duplicate(f"duplicate task id {task_id}", handle)
        ttl = w.go_duration(task_ttl)
        headers = {"Content-Type": ct, "Strand-Func": handle.func}
        if trace:
            headers["traceparent"] = trace
        if own:
            headers["Strand-Own-Id"] = "1"
        schedule = w.schedule_at(when)
        headers.update({"Nats-Schedule": schedule, "Nats-Schedule-Target": n.sched(w.SCHED_DUE, queue, task_id),
                        "Nats-Schedule-TTL": ttl, "Strand-Task-TTL": ttl,
                        "Nats-Expected-Last-Subject-Sequence": "0"})
        subject = n.sched(w.SCHED_DELAYED, queue, task_id)
        wait, retried = 0.05, False
        while True:
            try:
                await self._js.publish(subject, payload, headers=headers, timeout=_READ_TIMEOUT)
                return
            except nats.js.errors.APIError as e:
                if e.err_code == w.ERR_WRONG_LAST_SEQUENCE:
                    last = await self._get(n.schedules_stream, subject, deadline)
                    if retried and last is not None and last.data == payload and \
                            last.headers.get("Nats-Schedule") == schedule:
                        return  # an earlier try was stored after all
                    raise Duplicate(f"duplicate task id {task_id} (scheduled)", handle) from e
                if not isinstance(e, nats.js.errors.ServiceUnavailableError) or deadline.passed():
                    raise StrandError(f"submit {handle.func}: {e}") from e
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"submit {handle.func}: no answer from stream {n.schedules_stream}: {e!r}") from e
            retried = True
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    # Named schedules

    async def put_schedule(self, name: str, spec: str, func: str, *args: Any, queue: Optional[str] = None,
                           kwargs: Optional[Mapping[str, Any]] = None, timeout: Optional[Duration] = None,
                           max_attempts: Optional[int] = None, result_ttl: Optional[Duration] = None,
                           meta: Optional[Mapping[str, str]] = None, json: Optional[bool] = None,
                           task_ttl: Optional[Duration] = None, tz: str = "") -> None:
        """Creates the schedule name, or replaces the one of that name (in any
        queue): the server fires func(*args) as spec says — ``@every
        DURATION`` (at least 1 s), a 5-field cron expression (minute hour
        day-of-month month day-of-week) or a 6-field one (second first), or
        @hourly, @daily, @weekly, @monthly, @yearly; tz: the IANA time zone
        of a cron expression (default UTC). Each firing is one task, of id
        ``name-<unix second of the firing>``. Options are submit's. A bad
        name, spec or time zone raises BadOption, and nothing is stored."""
        w.valid_schedule_name(name)
        if not isinstance(tz, str):
            raise BadOption(f"tz: want an IANA time zone name, got {type(tz).__name__}")
        pattern, _ = w.schedule_pattern(spec, tz)
        queue = w.valid_queue(queue if queue is not None else self.queue)
        timeout_s = w.seconds(timeout, "timeout")
        ttl_ms = 0
        if result_ttl is not None:
            ttl_ms = int(_ttl(result_ttl, 0, "result_ttl", w.MAX_RESULT_TTL_S) * 1000)
        if max_attempts is not None and (not isinstance(max_attempts, int) or isinstance(max_attempts, bool)
                                         or max_attempts < 1):
            raise BadOption(f"max_attempts: want an integer of at least 1, got {max_attempts!r}")
        tttl = _ttl(task_ttl, self.task_ttl, "task_ttl", None)
        env = w.envelope(func, args, task_id=name, queue=queue, kwargs=kwargs, created_ms=0,
                         timeout_ms=int(round(timeout_s * 1000)) if timeout_s else 0,
                         max_attempts=max_attempts or 0, result_ttl_ms=ttl_ms, meta=meta)
        del env["created"]  # each firing sets its own
        ct = w.JSON if (self.json if json is None else json) else w.MSGPACK
        payload = w.encode(env, ct)
        limit = self._nc.max_payload - w.HEADROOM
        if len(payload) > limit:
            raise EnvelopeTooLarge(f"schedule {name}: the task is {len(payload)} bytes, the server accepts {limit}")
        if not await self._schedules():
            raise Unavailable(f"schedule {name}: schedules are unavailable: the stream {self.names.schedules_stream} "
                              f"is missing or keeps no message schedules (start a strand worker or strand dev on "
                              f"nats-server 2.14 or later)")
        old = await self._schedule_rec(name)
        headers = self._schedule_headers(queue, name, func, ct, spec, tz, pattern, tttl, False)
        await self._publish_schedule(name, self.names.sched(w.SCHED_CRON, queue, name), payload, headers)
        if old is not None and w.queue_of(old.subject) != queue:
            await self._purge_schedule(w.queue_of(old.subject), name)

    def _schedule_headers(self, queue: str, name: str, func: str, ct: str, spec: str, tz: str, pattern: str,
                          task_ttl: float, paused: bool) -> dict[str, str]:
        """The headers of a named schedule's message, as strand's Go writer
        sets them; paused: without Nats-Schedule*, so the server drops it."""
        ttl = w.go_duration(task_ttl)
        headers = {"Content-Type": ct, "Strand-Func": func, "Strand-Schedule": spec}
        if tz:
            headers["Strand-Schedule-TZ"] = tz
        headers["Strand-Task-TTL"] = ttl
        if paused:
            headers["Strand-Paused"] = "1"
            headers["Nats-Rollup"] = "sub"
            return headers
        headers["Nats-Schedule"] = pattern
        if tz:
            headers["Nats-Schedule-Time-Zone"] = tz
        headers["Nats-Schedule-Target"] = self.names.sched(w.SCHED_TICK, queue, name)
        headers["Nats-Schedule-TTL"] = ttl
        return headers

    async def _publish_schedule(self, name: str, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        wait = 0.05
        while True:
            try:
                await self._js.publish(subject, payload, headers=headers, timeout=_READ_TIMEOUT)
                return
            except nats.js.errors.APIError as e:
                if e.err_code in (10189, 10223):  # a pattern the server cannot fire, an unknown time zone
                    raise BadOption(f"schedule {name}: {e.description}") from e
                if e.err_code == w.ERR_WRONG_LAST_SEQUENCE:
                    raise StrandError(f"schedule {name} changed meanwhile; try again") from e
                if not isinstance(e, nats.js.errors.ServiceUnavailableError) or deadline.passed():
                    raise StrandError(f"schedule {name}: {e}") from e
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"schedule {name}: no answer from stream {self.names.schedules_stream}: "
                                      f"{e!r}") from e
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    async def pause_schedule(self, name: str) -> None:
        """Stops the schedule's firings until resume_schedule (a firing that
        happened already still runs); NotFound if there is none."""
        await self._pause_schedule(name, True)

    async def resume_schedule(self, name: str) -> None:
        """Restarts a paused schedule's firings from now on (the firings it
        missed while paused do not run); NotFound if there is none."""
        await self._pause_schedule(name, False)

    async def _pause_schedule(self, name: str, paused: bool) -> None:
        w.valid_schedule_name(name)
        rec = await self._schedule_rec(name) if await self._schedules() else None
        if rec is None:
            raise NotFound(f"schedule {name} not found")
        h = rec.headers
        if bool(h.get("Strand-Paused")) == paused:
            return
        spec, tz = h.get("Strand-Schedule", ""), h.get("Strand-Schedule-TZ", "")
        pattern, _ = w.schedule_pattern(spec, tz)
        ttl = w.parse_ttl(h.get("Strand-Task-TTL"))
        if ttl is None or ttl < w.MIN_TTL_S:
            ttl = w.DEFAULT_TASK_TTL_S
        ct = w.content_type_of(h.get("Content-Type")) if h.get("Content-Type") else w.record_format(rec.data)
        headers = self._schedule_headers(w.queue_of(rec.subject), name, h.get("Strand-Func", ""), ct, spec, tz,
                                         pattern, ttl, paused)
        # Only over the version read: a replace meanwhile stands.
        headers["Nats-Expected-Last-Subject-Sequence"] = str(rec.seq)
        await self._publish_schedule(name, rec.subject, rec.data, headers)

    async def schedules(self) -> list[ScheduleInfo]:
        """The named schedules, by name."""
        if not await self._schedules():
            return []
        n = self.names
        info = await self._jsm.stream_info(n.schedules_stream, subjects_filter=n.sched(w.SCHED_CRON, "*", "*"))
        subjects = sorted((info.state.subjects or {}).keys()) if info.state is not None else []
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        recs = await asyncio.gather(*(self._get(n.schedules_stream, subj, deadline) for subj in subjects))
        out = [await self._read_schedule(r) for r in recs if r is not None]
        return sorted(out, key=lambda s: s.name)

    async def get_schedule(self, name: str) -> ScheduleInfo:
        """The schedule name; NotFound if there is none."""
        w.valid_schedule_name(name)
        rec = await self._schedule_rec(name) if await self._schedules() else None
        if rec is None:
            raise NotFound(f"schedule {name} not found")
        return await self._read_schedule(rec)

    async def delete_schedule(self, name: str) -> None:
        """Removes the schedule and a firing of it not queued yet (the tasks of
        its earlier firings are not touched); NotFound if there is none."""
        w.valid_schedule_name(name)
        rec = await self._schedule_rec(name) if await self._schedules() else None
        if rec is None:
            raise NotFound(f"schedule {name} not found")
        await self._purge_schedule(w.queue_of(rec.subject), name)

    async def _schedule_rec(self, name: str) -> Optional[_Rec]:
        n = self.names
        return await self._get(n.schedules_stream, n.sched(w.SCHED_CRON, "*", name), _Deadline(_UNAVAILABLE_AFTER))

    async def _purge_schedule(self, queue: str, name: str) -> None:
        n = self.names
        for kind in (w.SCHED_CRON, w.SCHED_TICK, w.SCHED_LAST):
            await self._jsm.purge_stream(n.schedules_stream, subject=n.sched(kind, queue, name))

    async def _read_schedule(self, rec: _Rec) -> ScheduleInfo:
        n = self.names
        queue, name = w.queue_of(rec.subject), rec.subject.rsplit(".", 1)[-1]
        h = rec.headers
        try:
            env = w.decode_record(rec.data)
        except ValueError:
            env = {}
        spec, tz = h.get("Strand-Schedule", ""), h.get("Strand-Schedule-TZ", "")
        paused = bool(h.get("Strand-Paused"))
        last = await self._get(n.schedules_stream, n.sched(w.SCHED_LAST, queue, name), _Deadline(_UNAVAILABLE_AFTER))
        lr: dict[str, Any] = {}
        if last is not None:
            try:
                lr = w.decode_record(last.data)
            except ValueError:
                lr = {}
        fired, nxt = _int(lr.get("fired")), _int(lr.get("next"))
        utc = datetime.timezone.utc
        next_run: Optional[datetime.datetime] = None
        now = datetime.datetime.now(utc)
        if not paused:
            try:
                _, every = w.schedule_pattern(spec, tz)
            except BadOption:
                every = None
            if every and rec.time is not None:
                anchor = rec.time
                if nxt and datetime.datetime.fromtimestamp(nxt / 1000, utc) > rec.time:
                    anchor = datetime.datetime.fromtimestamp(nxt / 1000, utc) - datetime.timedelta(seconds=every)
                k = max(1, int((now - anchor).total_seconds() // every) + 1)
                next_run = anchor + datetime.timedelta(seconds=k * every)
            elif nxt and datetime.datetime.fromtimestamp(nxt / 1000, utc) > now:
                next_run = datetime.datetime.fromtimestamp(nxt / 1000, utc)
        kw = env.get("kwargs")
        return ScheduleInfo(name=name, queue=queue, func=str(h.get("Strand-Func") or env.get("func") or ""),
                            spec=spec, tz=tz, paused=paused, created=rec.time,
                            last_run=datetime.datetime.fromtimestamp(fired / 1000, utc) if fired else None,
                            last_task=str(lr.get("task") or "") if fired else "", next_run=next_run,
                            args=list(env.get("args") or []), kwargs=dict(kw) if isinstance(kw, Mapping) else {},
                            format="json" if w.record_format(rec.data) == w.JSON else "msgpack")

    async def _publish_task(self, subject: str, payload: bytes, headers: dict[str, str],
                            handle: "Handle[Any]") -> None:
        """A JetStream publish of a task, sent again while its fate is unknown
        (a timeout, a reconnect); one stored after all is recognised by its bytes."""
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        wait, retried = 0.05, False
        while True:
            try:
                await self._js.publish(subject, payload, headers=headers, timeout=_READ_TIMEOUT)
                return
            except nats.js.errors.APIError as e:
                lane_dup = e.err_code == w.ERR_WRONG_LAST_SEQUENCE and "~" in subject
                if e.err_code == w.ERR_SUBJECT_FULL or lane_dup:
                    if retried:
                        rec = await self._get(self.names.tasks_stream, subject, deadline)
                        if rec is not None and rec.data == payload:
                            return
                    raise Duplicate(f"duplicate task id {handle.id}", handle) from e
                if not isinstance(e, nats.js.errors.ServiceUnavailableError) or deadline.passed():
                    raise StrandError(f"submit {handle.func}: {e}") from e
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"submit {handle.func}: no answer from stream {self.names.tasks_stream} "
                                      f"(is a worker or strand dev running?): {e!r}") from e
            retried = True
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    async def open(self, id: str, queue: Optional[str] = None) -> "Handle[Any]":
        """A handle to a task submitted anywhere (another process too). Without
        queue, the task's queue is found from its records; NotFound if nothing
        of it is left."""
        w.valid_id(id)
        if queue is None:
            found = await self._locate(id, _Deadline(_UNAVAILABLE_AFTER))
            if not found:
                raise NotFound(f"task {id} not found")
            queue = found
        h: Handle[Any] = Handle(self, id, w.valid_queue(queue))
        await h._load()
        return h

    def task(self, name: Optional[str] = None, **options: Any) -> Callable[[Callable[P, R]], "TaskFunc[P, R]"]:
        """``@client.task("name")``: the decorated stub becomes a submitter of
        that function on this client (see ``strand_client.task``)."""
        return task(name, client=self, **options)

    # Reading

    async def _direct_get(self, stream: str, subject: str) -> Optional[_Rec]:
        """The last message of subject in stream (markers included), or None."""
        msg = await self._nc.request(f"$JS.API.DIRECT.GET.{stream}.{subject}", b"", timeout=_READ_TIMEOUT)
        hdrs = dict(msg.headers or {})
        status = hdrs.get("Status", "")
        if status == "404":
            return None
        if status in ("408", "503"):
            raise nats.js.errors.NoStreamResponseError()
        if status:
            raise StrandError(f"read {subject}: status {status} {hdrs.get('Description', '')}")
        seq = hdrs.get("Nats-Sequence", "0")
        return _Rec(subject=hdrs.get("Nats-Subject", subject), data=msg.data, headers=hdrs,
                    seq=int(seq) if seq.isdigit() else 0, time=_parse_time(hdrs.get("Nats-Time-Stamp", "")))

    async def _get_last(self, stream: str, subject: str, deadline: _Deadline) -> Optional[_Rec]:
        """_direct_get, retried while the server does not answer (a restart,
        a leader election), until the deadline."""
        wait = 0.05
        while True:
            try:
                return await self._direct_get(stream, subject)
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"read {subject}: no answer from stream {stream}: {e!r}") from e
            await asyncio.sleep(min(wait, deadline.left() or wait))
            wait = min(2 * wait, 1.0)

    async def _get(self, stream: str, subject: str, deadline: _Deadline) -> Optional[_Rec]:
        """_get_last without markers: None for a deleted, purged or expired key."""
        rec = await self._get_last(stream, subject, deadline)
        if rec is None or w.is_marker(rec.data, rec.headers):
            return None
        return rec

    async def _locate(self, task_id: str, deadline: _Deadline) -> Optional[str]:
        n = self.names
        rec = await self._get(n.kv_stream, f"$KV.{n.bucket}.*.*.{task_id}", deadline)
        if rec is not None:
            return w.queue_of(rec.subject)
        rec = await self._get(n.tasks_stream, f"{n.prefix}.t.*.{task_id}", deadline)
        if rec is not None:
            return w.queue_of(rec.subject)
        if await self._schedules():
            for kind in (w.SCHED_DELAYED, w.SCHED_DUE):
                rec = await self._get(n.schedules_stream, n.sched(kind, "*", task_id), deadline)
                if rec is not None:
                    parts = rec.subject.split(".")
                    # <prefix>.sched.at.<queue>.<id>, <prefix>.sched.fire.<queue>.due.<id>
                    return parts[-2] if kind == w.SCHED_DELAYED else parts[-3]
        return None

    def _decode_outcome(self, subject: str, data: bytes, queue: str) -> Outcome:
        try:
            rec = w.decode_record(data)
        except ValueError as e:
            raise StrandError(f"{subject}: not an outcome record: {e}") from e
        if w.kind_of(subject) == "c":
            rec = w.as_cancelled(rec, queue)
        elif not rec.get("queue"):
            rec["queue"] = queue
        return Outcome.of(rec)

    async def _outcome_rec(self, queue: str, task_id: str, deadline: _Deadline) -> Optional[tuple[Outcome, int]]:
        """The first written of the task's outcome and cancellation, and its sequence."""
        r, c = await asyncio.gather(self._get(self.names.kv_stream, self.names.key("r", queue, task_id), deadline),
                                    self._get(self.names.kv_stream, self.names.key("c", queue, task_id), deadline))
        if r is None and c is None:
            return None
        first = r if c is None or (r is not None and r.seq < c.seq) else c
        assert first is not None
        return self._decode_outcome(first.subject, first.data, queue), first.seq

    async def _outcome(self, queue: str, task_id: str, deadline: _Deadline) -> Optional[Outcome]:
        got = await self._outcome_rec(queue, task_id, deadline)
        return got[0] if got is not None else None

    async def _look(self, queue: str, task_id: str, deadline: _Deadline) -> _Look:
        """The task as the protocol reads it: its outcome, else its queued
        task and its state, else its delayed or due task (nothing: nothing
        of it is left)."""
        n = self.names
        r, c, t, s = await asyncio.gather(
            self._get(n.kv_stream, n.key("r", queue, task_id), deadline),
            self._get(n.kv_stream, n.key("c", queue, task_id), deadline),
            self._queued(queue, task_id, deadline),
            self._get(n.kv_stream, n.key("s", queue, task_id), deadline))
        if r is not None or c is not None:
            first = r if c is None or (r is not None and r.seq < c.seq) else c
            assert first is not None
            return _Look(outcome=self._decode_outcome(first.subject, first.data, queue))
        if t is not None:
            return _Look(task=t, state=_state(s))
        o = await self._outcome(queue, task_id, deadline)  # answered between the reads?
        if o is not None or not await self._schedules():
            return _Look(outcome=o)
        # Delayed or due? The reads follow the task's way (delayed, due,
        # queued, outcome), so a task that moves on between them is found.
        at = await self._get(n.schedules_stream, n.sched(w.SCHED_DELAYED, queue, task_id), deadline)
        if at is not None:
            return _Look(task=at, scheduled=True, run_at=w.parse_schedule_at(at.headers.get("Nats-Schedule")))
        due = await self._get(n.schedules_stream, n.sched(w.SCHED_DUE, queue, task_id), deadline)
        if due is not None:
            return _Look(task=due, due=True)
        t, s = await asyncio.gather(self._queued(queue, task_id, deadline),
                                    self._get(n.kv_stream, n.key("s", queue, task_id), deadline))
        if t is not None:
            return _Look(task=t, state=_state(s))
        return _Look(outcome=await self._outcome(queue, task_id, deadline))

    async def _queued(self, queue: str, task_id: str, deadline: _Deadline) -> Optional[_Rec]:
        """The queued task in whichever lane of its queue (normal, high, low)."""
        n = self.names
        recs = await asyncio.gather(*(self._get(n.tasks_stream, n.task(queue, task_id, lane), deadline)
                                      for lane in ("", "high", "low")))
        return next((r for r in recs if r is not None), None)

    async def _follow(self, queue: str, task_id: str, timeout: Optional[float],
                      on_progress: Optional[ProgressCallback] = None) -> Outcome:
        """Waits for the task's outcome, pushed by the server: subscribe to the
        task's events, flush, read the outcome, else take the first outcome
        or cancellation event (state events feed on_progress). After a
        reconnect or a leader election of the bucket's stream, and 1, 3 and
        10 s later, the outcome is read again: events may have been lost."""
        deadline = _Deadline(timeout)
        events: asyncio.Queue[Any] = asyncio.Queue()

        async def got(msg: Msg) -> None:
            events.put_nowait(msg)

        await self._follow_leaders()
        sub = await self._nc.subscribe(self.names.events(queue, task_id), cb=got)
        self._waiters.add(events)
        last_progress: Optional[Progress] = None

        async def report(state: Optional[Mapping[str, Any]]) -> None:
            nonlocal last_progress
            p = w.progress_of(state)
            if on_progress is None or p is None or p == last_progress:
                return
            last_progress = p
            res = on_progress(p)
            if inspect.isawaitable(res):
                await res

        try:
            await self._flush(deadline)
            read_deadline = deadline if deadline.at is not None else _Deadline(None)
            if on_progress is not None:
                look = await self._look(queue, task_id, read_deadline)
                o = look.outcome
                await report(look.state)
            else:
                o = await self._outcome(queue, task_id, read_deadline)
            while o is None:
                left = deadline.left()
                if left is not None and left <= 0:
                    raise WaitTimeout(f"task {task_id}: no outcome after {timeout} s")
                try:
                    ev = await asyncio.wait_for(events.get(), left)
                except asyncio.TimeoutError:
                    raise WaitTimeout(f"task {task_id}: no outcome after {timeout} s") from None
                if ev is _RECONNECTED:
                    o = await self._outcome(queue, task_id, read_deadline)
                    continue
                msg = cast(Msg, ev)
                if w.is_marker(msg.data, msg.headers):
                    continue
                kind = w.kind_of(msg.subject)
                if kind == "s":
                    await report(_state(msg))
                elif kind in ("r", "c"):
                    o = self._decode_outcome(msg.subject, msg.data, queue)
            return o
        finally:
            self._waiters.discard(events)
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass

    async def _flush(self, deadline: _Deadline) -> None:
        wait = 0.05
        while True:
            try:
                await self._nc.flush(timeout=int(_READ_TIMEOUT))
                return
            except (nats.errors.TimeoutError, nats.errors.FlushTimeoutError, nats.errors.ConnectionReconnectingError,
                    asyncio.TimeoutError):
                if deadline.passed():
                    raise WaitTimeout("no answer from the server") from None
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)

    async def _cancel(self, queue: str, task_id: str, reason: str = "cancelled by caller",
                      pending_only: bool = False) -> None:
        """Creates the task's cancellation record, as the protocol says
        (pending_only: not once a worker has started it)."""
        deadline = _Deadline(_UNAVAILABLE_AFTER)
        look = await self._look(queue, task_id, deadline)
        o, task_rec = look.outcome, look.task
        if o is not None:
            raise Finished(f"cancel {task_id}: the task has finished ({o.status.value})", o.status.value)
        if task_rec is None:
            raise NotFound(f"cancel {task_id}: task not found")
        if pending_only and look.state is not None:
            raise Finished(f"cancel {task_id}: the task has started", str(look.state.get("status", "running")))
        ct = w.content_type_of(task_rec.headers.get("Content-Type"))
        try:
            env = w.decode_record(task_rec.data)
        except ValueError:
            env = {}
        func = str(env.get("func") or task_rec.headers.get("Strand-Func", ""))
        result_ttl_ms = env.get("result_ttl_ms")
        ttl = float(result_ttl_ms) / 1000 if isinstance(result_ttl_ms, int) and result_ttl_ms > 0 else self.result_ttl
        ttl = min(max(ttl, w.MIN_TTL_S), w.MAX_RESULT_TTL_S)
        now = datetime.datetime.now(datetime.timezone.utc)
        task_ttl = w.parse_ttl(task_rec.headers.get("Nats-TTL"))
        if task_ttl is not None and task_rec.time is not None:
            ttl = max(ttl, (task_rec.time - now).total_seconds() + task_ttl)
        if look.scheduled and look.run_at is not None:
            # Kept at least until the task is due and its task TTL has passed.
            task_ttl = w.parse_ttl(task_rec.headers.get("Strand-Task-TTL"))
            ttl = max(ttl, (look.run_at - now).total_seconds() + (task_ttl or 0))
        created, meta = env.get("created"), env.get("meta")
        rec = w.cancellation(func, queue, created_ms=created if isinstance(created, int) else 0,
                             meta=meta if isinstance(meta, Mapping) else None, reason=reason)
        subject = self.names.key("c", queue, task_id)
        headers = {"Content-Type": ct, "Nats-TTL": w.go_duration(-(-ttl // 1)),
                   "Nats-Expected-Last-Subject-Sequence": "0"}
        payload = w.encode(rec, ct)
        wait = 0.05
        while True:
            try:
                ack = await self._js.publish(subject, payload, headers=headers, timeout=_READ_TIMEOUT)
                break
            except nats.js.errors.APIError as e:
                if e.err_code != w.ERR_WRONG_LAST_SEQUENCE:
                    if isinstance(e, nats.js.errors.ServiceUnavailableError) and not deadline.passed():
                        await asyncio.sleep(wait)
                        wait = min(2 * wait, 1.0)
                        continue
                    raise StrandError(f"cancel {task_id}: {e}") from e
                # The subject holds a message: a cancellation, or a marker to write over.
                last = await self._get_last(self.names.kv_stream, subject, deadline)
                if last is not None and not w.is_marker(last.data, last.headers):
                    raise Finished(f"cancel {task_id}: the task has finished (cancelled)", "cancelled") from e
                headers["Nats-Expected-Last-Subject-Sequence"] = str(last.seq if last is not None else 0)
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"cancel {task_id}: {e!r}") from e
                await asyncio.sleep(wait)
                wait = min(2 * wait, 1.0)
        # The task may have finished between the read and the write: its outcome then stands.
        first = await self._outcome_rec(queue, task_id, deadline)
        if first is not None and first[1] < ack.seq:
            raise Finished(f"cancel {task_id}: the task has finished ({first[0].status.value})",
                           first[0].status.value)
        if look.scheduled:
            await self._unschedule(queue, task_id, deadline)
        if env.get("unique") == "finished" and isinstance(env.get("key"), str) and env.get("key"):
            await self._release_unique(queue, str(env["key"]), task_id)  # the task has ended: so has its key

    async def _unschedule(self, queue: str, task_id: str, deadline: _Deadline) -> None:
        """Replaces a delayed task's schedule with an empty message that
        expires a second later, so that the server never fires it (if it
        fired meanwhile, its worker finds the cancellation)."""
        subject = self.names.sched(w.SCHED_DELAYED, queue, task_id)
        wait = 0.05
        while True:
            try:
                await self._js.publish(subject, b"", headers={"Nats-Rollup": "sub", "Nats-TTL": "1s"},
                                       timeout=_READ_TIMEOUT)
                return
            except nats.js.errors.APIError as e:
                if not isinstance(e, nats.js.errors.ServiceUnavailableError) or deadline.passed():
                    raise StrandError(f"cancel {task_id}: cancelled, but its schedule stays until it fires: {e}") from e
            except _TRANSIENT as e:
                if deadline.passed():
                    raise Unavailable(f"cancel {task_id}: cancelled, but its schedule stays until it fires: "
                                      f"{e!r}") from e
            await asyncio.sleep(wait)
            wait = min(2 * wait, 1.0)


def _state(rec: Any) -> Optional[dict[str, Any]]:
    """A state record (a stored message or an event), or None if there is
    none or it cannot be read: a state only informs, it never ends a wait."""
    if rec is None:
        return None
    try:
        return w.decode_record(rec.data)
    except ValueError:
        return None


def _ttl(d: Optional[Duration], default: float, what: str, most: Optional[float]) -> float:
    s = w.seconds(d, what)
    if s is None:
        return default
    if s < w.MIN_TTL_S:
        raise BadOption(f"{what}: {s} s is under the minimum of 1 s")
    if most is not None and s > most:
        raise BadOption(f"{what}: {s} s is over the maximum of {most} s")
    return s


def uuid7() -> str:
    """A UUIDv7 string: time-ordered, as strand's Go writers generate ids."""
    ms = int(time.time() * 1000)
    rand = int.from_bytes(uuid.uuid4().bytes, "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand & ((1 << 12) - 1)) << 64 | 0b10 << 62 | (
        rand >> 12) & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class Handle(Generic[R]):
    """A task: read its status, wait for its result (pushed by the server,
    no polling), cancel it, follow its items and progress. ``submit`` and
    ``open`` return one; it holds no resources between calls."""

    def __init__(self, client: Client, task_id: str, queue: str, *, func: str = "",
                 envelope: Optional[Mapping[str, Any]] = None, content_type: str = w.MSGPACK) -> None:
        self._client = client
        self.id = task_id
        self.queue = queue
        self.func = func
        self._env: dict[str, Any] = dict(envelope or {})
        self._ct = content_type
        self._run_at: Optional[datetime.datetime] = None

    def __repr__(self) -> str:
        return f"Handle(id={self.id!r}, queue={self.queue!r}, func={self.func!r})"

    @property
    def metadata(self) -> dict[str, Any]:
        """What the task was submitted with: id, queue, func, meta, created
        (unix ms), format, and its options (timeout_ms, max_attempts,
        result_ttl_ms, priority, key, unique, not_before) when set, and for a delayed task ``run_at``: the
        time (UTC datetime, whole seconds) it is to run. A handle from
        ``open`` knows what the server still holds of the task when it was
        opened."""
        md: dict[str, Any] = {"id": self.id, "queue": self.queue, "func": self.func,
                              "meta": dict(self._env.get("meta") or {}),
                              "format": "json" if self._ct == w.JSON else "msgpack"}
        for k in ("created", "timeout_ms", "max_attempts", "result_ttl_ms", "args", "kwargs", "trace",
                  "priority", "key", "unique", "not_before"):
            if self._env.get(k) is not None:
                md[k] = self._env[k]
        if self._run_at is not None:
            md["run_at"] = self._run_at
        return md

    @property
    def run_at(self) -> Optional[datetime.datetime]:
        """When a delayed task is to run (UTC, whole seconds), None for a task
        submitted to run at once; from ``open``, while it is scheduled."""
        return self._run_at

    async def _load(self) -> None:
        """Reads what the server holds of the task into metadata."""
        look = await self._client._look(self.queue, self.id, _Deadline(_UNAVAILABLE_AFTER))
        o, t = look.outcome, look.task
        if look.scheduled:
            self._run_at = look.run_at
        if t is not None:
            self._ct = w.content_type_of(t.headers.get("Content-Type"))
            try:
                self._env = w.decode_record(t.data)
            except ValueError:
                self._env = {}
            self.func = str(self._env.get("func") or t.headers.get("Strand-Func", ""))
        elif o is not None:
            rec = o.record
            self.func = str(rec.get("func") or "")
            self._env = {k: rec[k] for k in ("created", "meta") if rec.get(k)}

    async def status(self) -> Status:
        """The task's status now: its outcome's, else running or retrying,
        pending while it is queued (or due), scheduled while it is delayed,
        UNKNOWN once nothing of it is left."""
        look = await self._client._look(self.queue, self.id, _Deadline(_UNAVAILABLE_AFTER))
        if look.scheduled:
            self._run_at = look.run_at
        return look.status

    async def is_ready(self) -> bool:
        """Whether the task has ended (its outcome exists)."""
        return await self._client._outcome(self.queue, self.id, _Deadline(_UNAVAILABLE_AFTER)) is not None

    async def wait(self, timeout: Optional[Duration] = None,
                   on_progress: Optional[ProgressCallback] = None) -> Outcome:
        """The task's outcome, whatever its status, once it has one: pushed by
        the server. Raises WaitTimeout after timeout (None: no limit)."""
        return await self._client._follow(self.queue, self.id, w.seconds(timeout, "timeout"), on_progress)

    async def result(self, timeout: Optional[Duration] = None,
                     on_progress: Optional[ProgressCallback] = None) -> R:
        """The task's result once it has completed, pushed by the server (no
        polling). Raises the TaskFailed subclass of its error kind
        (UnknownFunc, BadArgs, Timeout, Cancelled, …) if it did not complete,
        WaitTimeout if it has not ended after timeout seconds (None: no
        limit). on_progress is called with each progress report meanwhile."""
        o = await self.wait(timeout, on_progress)
        if o.status is not Status.COMPLETED:
            raise task_error(self.id, o.record)
        return cast(R, o.result)

    async def cancel(self) -> None:
        """Cancels the task: a queued task never runs, a running one has its
        handler stopped. Raises Finished if it has ended already, NotFound if
        nothing of it is left."""
        await self._client._cancel(self.queue, self.id)

    async def progress(self) -> Optional[Progress]:
        """The last progress the handler reported, or None."""
        s = await self._client._get(self._client.names.kv_stream,
                                    self._client.names.key("s", self.queue, self.id), _Deadline(_UNAVAILABLE_AFTER))
        return w.progress_of(_state(s))

    async def watch_progress(self, callback: ProgressCallback, timeout: Optional[Duration] = None) -> Outcome:
        """Calls callback with each progress report as it comes, until the task
        ends; returns its outcome (raises WaitTimeout after timeout)."""
        return await self.wait(timeout, on_progress=callback)

    async def items(self, timeout: Optional[Duration] = None) -> AsyncGenerator[Any, None]:
        """The items the task streams (a handler returning an iterator), as
        they come, from the first one, however late you start. Ends after the
        last item; if the task failed, raises its TaskFailed after the items
        it produced. A task that streams nothing ends when its outcome comes.
        Items of a retried task restart at the first with each attempt.
        Raises WaitTimeout if the task has not ended after timeout seconds."""
        c = self._client
        deadline = _Deadline(w.seconds(timeout, "timeout"))
        subject = c.names.items(self.queue, self.id)
        ended: asyncio.Task[Outcome] = asyncio.ensure_future(c._follow(self.queue, self.id, deadline.left()))
        sub: Any = None
        nxt: Optional[asyncio.Task[Msg]] = None
        final: Optional[Outcome] = None
        stop_at: Optional[int] = None  # once the outcome is known: the sequence of the last item to read
        seen = 0  # the stream sequence of the last message read
        resubscribed = False

        def timed_out() -> WaitTimeout:
            return WaitTimeout(f"task {self.id}: items: the task has not ended after {timeout} s")

        try:
            sub = await self._subscribe_items(subject)
            while True:
                if final is not None and stop_at is not None and seen >= stop_at:
                    break
                if sub is None:  # no items stream yet: the task has streamed nothing
                    try:
                        final = await asyncio.wait_for(asyncio.shield(ended), deadline.left())
                    except asyncio.TimeoutError:
                        raise timed_out() from None
                    if final.items > 0 and not resubscribed:
                        resubscribed = True
                        sub = await self._subscribe_items(subject)
                        stop_at = None
                        if sub is not None:
                            last = await self._last_item(subject)
                            stop_at = 0 if last is None else (None if last[1] else last[0])
                            continue
                    break
                if nxt is None:
                    nxt = asyncio.ensure_future(sub.next_msg(timeout=None))
                waits: set[asyncio.Future[Any]] = {nxt}
                if final is None:
                    waits.add(ended)
                done, _ = await asyncio.wait(waits, timeout=deadline.left(), return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise timed_out()
                if final is None and ended in done:
                    final = ended.result()
                    last = await self._last_item(subject)
                    # No item stored: stop now. The last one stored is an
                    # item: stop once it is read. The end marker: read to it.
                    stop_at = 0 if last is None else (None if last[1] else last[0])
                if nxt not in done:
                    continue
                msg = nxt.result()
                nxt = None
                md = msg.metadata
                if md is not None and md.sequence is not None:
                    seen = md.sequence.stream
                hdrs = msg.headers or {}
                if "Strand-End" in hdrs:
                    if "Strand-Error-Kind" not in hdrs:
                        return
                    if final is None:
                        try:
                            final = await asyncio.wait_for(asyncio.shield(ended), deadline.left())
                        except asyncio.TimeoutError:
                            raise timed_out() from None
                    if final.status is not Status.COMPLETED:
                        raise task_error(self.id, final.record)
                    raise task_error(self.id, {"status": "failed", "error": {
                        "kind": hdrs["Strand-Error-Kind"], "message": hdrs.get("Strand-Error", "")}})
                try:
                    item = w.decode_value(msg.data, w.content_type_of(hdrs.get("Content-Type")))
                except ValueError as e:
                    raise StrandError(f"task {self.id}: item {hdrs.get('Strand-Item', '?')}: {e}") from e
                yield item
            if final is not None and final.status is not Status.COMPLETED:
                raise task_error(self.id, final.record)
        finally:
            for t in (nxt, ended):
                if t is not None and not t.done():
                    t.cancel()
                    try:
                        await t
                    except BaseException:
                        pass
                elif t is not None and not t.cancelled():
                    t.exception()  # retrieved: no "never retrieved" warning
            if sub is not None:
                try:
                    await sub.unsubscribe()
                except nats.errors.Error:
                    pass

    async def stream(self, on_iter: Optional[Callable[[Any], Any]] = None,
                     on_end: Optional[Callable[[Outcome], Any]] = None,
                     on_error: Optional[Callable[[StrandError], Any]] = None,
                     timeout: Optional[Duration] = None) -> Optional[Outcome]:
        """The original strand's callbacks: on_iter for each item as it comes,
        then on_end with the outcome of a completed task, or on_error with the
        error of one that did not complete (a TaskFailed) or of the wait
        (WaitTimeout, …). Each may be a plain or a coroutine function. Returns
        the outcome of a completed task, None otherwise."""
        async def call(fn: Optional[Callable[[Any], Any]], arg: Any) -> None:
            if fn is not None:
                res = fn(arg)
                if inspect.isawaitable(res):
                    await res

        deadline = _Deadline(w.seconds(timeout, "timeout"))
        try:
            async for item in self.items(deadline.left()):
                await call(on_iter, item)
            o = await self.wait(deadline.left())
            if o.status is not Status.COMPLETED:
                raise task_error(self.id, o.record)
        except StrandError as e:
            if on_error is None:
                raise
            await call(on_error, e)
            return None
        await call(on_end, o)
        return o

    async def _subscribe_items(self, subject: str) -> Any:
        """An ordered consumer of the task's items from the first; None if the
        items stream does not exist (no task has streamed items yet)."""
        try:
            return await self._client._js.subscribe(subject, stream=self._client.names.items_stream,
                                                    ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        except nats.js.errors.NotFoundError:
            return None

    async def _last_item(self, subject: str) -> Optional[tuple[int, bool]]:
        """The sequence of the last message stored on the task's items subject
        and whether it is the end marker; None if there is none."""
        try:
            m = await self._client._jsm.get_last_msg(self._client.names.items_stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        return int(m.seq or 0), "Strand-End" in (m.headers or {})


class TaskFunc(Generic[P, R]):
    """A function stub turned into a submitter by ``@task``: calling it
    submits a task and returns (an awaitable of) its Handle. Positional
    parameters become the task's args, keyword-only and ``**kwargs``
    parameters its kwargs."""

    def __init__(self, name: str, stub: Callable[P, R], client: Optional[Client],
                 options: Mapping[str, Any]) -> None:
        self.name = name
        self.stub = stub
        self._client = client
        self._options = dict(options)
        self._sig = inspect.signature(stub)
        functools.update_wrapper(self, stub)

    def options(self, **options: Any) -> "TaskFunc[P, R]":
        """The same submitter with more submit options (queue, id, timeout, …)."""
        return TaskFunc(self.name, self.stub, self._client, {**self._options, **options})

    def split(self, *args: Any, **kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
        """The task's args and kwargs for a call of the stub."""
        bound = self._sig.bind(*args, **kwargs)
        pos: list[Any] = []
        kw: dict[str, Any] = {}
        for p in self._sig.parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if p.name in bound.arguments:
                    pos.append(bound.arguments[p.name])
                elif p.default is not p.empty:
                    pos.append(p.default)
            elif p.kind is p.VAR_POSITIONAL:
                pos.extend(bound.arguments.get(p.name, ()))
            elif p.kind is p.KEYWORD_ONLY:
                if p.name in bound.arguments:
                    kw[p.name] = bound.arguments[p.name]
            elif p.kind is p.VAR_KEYWORD:
                kw.update(bound.arguments.get(p.name, {}))
        return pos, kw

    async def submit(self, *args: P.args, **kwargs: P.kwargs) -> Handle[R]:
        """Submits the call; as calling the TaskFunc."""
        client = self._client or default_client()
        pos, kw = self.split(*args, **kwargs)
        opts = dict(self._options)
        if kw:
            opts["kwargs"] = {**(opts.get("kwargs") or {}), **kw}
        return cast(Handle[R], await client.submit(self.name, *pos, **opts))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[Handle[R]]:
        return self.submit(*args, **kwargs)


def task(name: Optional[str] = None, *, client: Optional[Client] = None,
         **options: Any) -> Callable[[Callable[P, R]], TaskFunc[P, R]]:
    """Turns a Python stub into a submitter of the strand function name (the
    stub's own name by default): ``await add(2, 3)`` submits ``add(2, 3)``
    and returns a ``Handle[int]`` for ``def add(a: int, b: int) -> int: ...``.
    client: the client to submit on (default: the first one connected, or
    the one given to set_default_client); options: submit options."""
    def wrap(stub: Callable[P, R]) -> TaskFunc[P, R]:
        return TaskFunc(name or stub.__name__, stub, client, options)
    return wrap


_default: Optional[Client] = None


def default_client() -> Client:
    """The client ``@task`` submitters use when they were given none."""
    if _default is None:
        raise StrandError("no client: connect first (await strand_client.connect(...)) or pass client=")
    return _default


def set_default_client(client: Optional[Client]) -> None:
    """Sets the client ``@task`` submitters use when they were given none."""
    global _default
    _default = client


async def connect(servers: Union[str, Sequence[str]] = "nats://127.0.0.1:4222", *, prefix: str = w.DEFAULT_PREFIX,
                  queue: str = w.DEFAULT_QUEUE, json: bool = False, task_ttl: Optional[Duration] = None,
                  result_ttl: Optional[Duration] = None, **nats_options: Any) -> Client:
    """Connects to strand's NATS. prefix: the deployment's (default
    ``strand``); queue: the default queue of submissions; json: submit JSON
    envelopes instead of msgpack; task_ttl: how long a task may wait in its
    queue (default 14 days); result_ttl: the TTL of the cancellations this
    client writes for tasks that name none (default 24 h). Other keyword
    arguments go to ``nats.connect`` (user, password, token, tls,
    reconnect_time_wait, …); the client reconnects forever by default, but
    raises Unavailable if no server answers at first. The first client
    connected becomes the default one of ``@task`` submitters."""
    global _default
    w.valid_prefix(prefix)
    w.valid_queue(queue)
    holder: list[Client] = []
    user_cb = nats_options.pop("reconnected_cb", None)

    async def reconnected() -> None:
        for c in holder:
            c._reconnected()
        if user_cb is not None:
            await user_cb()

    # nats-py's reconnect limit also bounds the first connection: try each
    # server twice at first, then, once connected, reconnect forever
    # (unless the caller set a limit).
    forever = "max_reconnect_attempts" not in nats_options
    if forever:
        nats_options["max_reconnect_attempts"] = 1
    servers_list = [servers] if isinstance(servers, str) else list(servers)
    try:
        nc = await nats.connect(servers_list, reconnected_cb=reconnected, **nats_options)
    except (nats.errors.NoServersError, OSError, asyncio.TimeoutError) as e:
        raise Unavailable(f"connect {', '.join(servers_list)}: {e!r}") from e
    if forever:
        nc.options["max_reconnect_attempts"] = -1
    client = Client(nc, prefix=prefix, queue=queue, json=json, task_ttl=task_ttl, result_ttl=result_ttl)
    holder.append(client)
    await client._follow_leaders()
    if _default is None:
        _default = client
    return client


__all__ = ["Client", "Handle", "Outcome", "ScheduleInfo", "TaskFunc", "task", "connect", "default_client", "set_default_client",
           "ProgressCallback", "uuid7", "TaskFailed"]
