"""strand's wire records (docs/protocol.md, version 2), without NATS.

Envelopes are built with their keys in the order of the protocol's table,
which is the order strand's Go codec writes, so that a task this client
sends is byte for byte what strand's Go writer would send for it.
"""

from __future__ import annotations

import datetime
import json as _json
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Optional, Sequence, Union

import msgpack

from .errors import BadOption

VERSION = 2
"""The protocol version this client writes (``v`` of the envelope)."""

DEFAULT_QUEUE = "default"
DEFAULT_PREFIX = "strand"
DEFAULT_TASK_TTL_S = 14 * 24 * 3600
DEFAULT_RESULT_TTL_S = 24 * 3600
MIN_TTL_S = 1
MAX_RESULT_TTL_S = 365 * 24 * 3600
HEADROOM = 512  # bytes a message needs beyond its payload: subject and headers

MSGPACK = "application/msgpack"
JSON = "application/json"

ERR_SUBJECT_FULL = 10077  # a second publish on a queued task's subject
ERR_WRONG_LAST_SEQUENCE = 10071  # a create-only write over an existing record

# Kinds of subjects of the schedules stream (docs/protocol.md, "Delayed tasks and schedules").
SCHED_DELAYED = "at"  # a delayed task's @at schedule
SCHED_DUE = "due"  # its firing, until a worker queues it
SCHED_CRON = "cron"  # a named schedule
SCHED_TICK = "tick"  # one firing of a named schedule
SCHED_LAST = "last"  # the last firing a worker queued

_ID = re.compile(r"[A-Za-z0-9_=-]{1,128}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"[a-z0-9_-]+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

Duration = Union[float, int, datetime.timedelta]
"""A duration: seconds (int or float), or a ``datetime.timedelta``."""


class Status(str, Enum):
    """A task's status. Terminal ones: completed, failed, cancelled, dead."""

    UNKNOWN = "unknown"
    SCHEDULED = "scheduled"
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        """Whether the task has ended: its outcome is final."""
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.DEAD)

    @classmethod
    def of(cls, s: Any) -> "Status":
        """The status named s; UNKNOWN for a name it does not know."""
        try:
            return cls(s)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class Progress:
    """A handler's report of how far it has come (total 0: unknown)."""

    done: int
    total: int = 0
    note: str = ""


def valid_id(task_id: str) -> str:
    """task_id if it can name a task (1-128 of A-Z a-z 0-9 _ = -), else BadOption."""
    if not isinstance(task_id, str) or not _ID.fullmatch(task_id):
        raise BadOption(f"task id {task_id!r}: want 1-128 characters of A-Z a-z 0-9 _ = -")
    return task_id


def valid_queue(queue: str) -> str:
    """queue if it can name a queue (1-64 of A-Z a-z 0-9 _ -), else BadOption."""
    if not isinstance(queue, str) or not _QUEUE.fullmatch(queue):
        raise BadOption(f"queue {queue!r}: want 1-64 characters of A-Z a-z 0-9 _ -")
    return queue


def valid_prefix(prefix: str) -> str:
    """prefix if it is a lowercase subject token, else BadOption."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise BadOption(f"prefix {prefix!r}: want a lowercase subject token (a-z 0-9 _ -)")
    return prefix


def seconds(d: Optional[Duration], what: str) -> Optional[float]:
    """d in seconds (None stays None); BadOption if it is not a duration or negative."""
    if d is None:
        return None
    if isinstance(d, datetime.timedelta):
        s = d.total_seconds()
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        s = float(d)
    else:
        raise BadOption(f"{what}: want seconds or a timedelta, got {type(d).__name__}")
    if s < 0 or s != s:
        raise BadOption(f"{what}: negative duration {d!r}")
    return s


def go_duration(s: float) -> str:
    """Seconds as a Go duration string in whole seconds' units, as strand's
    Go writer sends Nats-TTL: 1209600 → 336h0m0s."""
    total = int(s)
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def run_at(at: Optional[datetime.datetime], after: Optional[Duration]) -> Optional[datetime.datetime]:
    """When a task given at= or after= is to run, in UTC (None: neither was
    given). A naive datetime is local time. BadOption if both are given or
    one is not a time or a duration."""
    if at is not None and after is not None:
        raise BadOption("at and after: give one of them, not both")
    if at is not None:
        if not isinstance(at, datetime.datetime):
            raise BadOption(f"at: want a datetime, got {type(at).__name__}")
        return at.astimezone(datetime.timezone.utc)
    if after is None:
        return None
    if isinstance(after, datetime.timedelta):
        d = after.total_seconds()
    elif isinstance(after, (int, float)) and not isinstance(after, bool) and after == after:
        d = float(after)
    else:
        raise BadOption(f"after: want seconds or a timedelta, got {type(after).__name__}")
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=d)


def schedule_at(t: datetime.datetime) -> str:
    """The Nats-Schedule header of a task delayed until t: ``@at`` and t in
    UTC, whole seconds, rounded up, so that it never runs before t."""
    u = t.astimezone(datetime.timezone.utc)
    whole = u.replace(microsecond=0)
    if whole != u:
        whole += datetime.timedelta(seconds=1)
    return "@at " + whole.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_schedule_at(header: Optional[str]) -> Optional[datetime.datetime]:
    """The time of an ``@at`` Nats-Schedule header, None if it is not one."""
    if not header or not header.startswith("@at "):
        return None
    try:
        return datetime.datetime.strptime(header[4:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


_SCHEDULE_NAME = re.compile(r"[A-Za-z0-9_=-]{1,100}")
_MACROS = {"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
           "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *"}


def valid_schedule_name(name: str) -> str:
    """name if it can name a schedule (1-100 of A-Z a-z 0-9 _ = -), else BadOption."""
    if not isinstance(name, str) or not _SCHEDULE_NAME.fullmatch(name):
        raise BadOption(f"schedule name {name!r}: want 1-100 characters of A-Z a-z 0-9 _ = -")
    return name


def go_duration_ms(ms: int) -> str:
    """Milliseconds as Go's time.Duration prints them: 1h0m0s, 1m30s, 1.5s, 500ms."""
    if ms < 1000:
        return f"{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec = f"{rest // 1000}s" if rest % 1000 == 0 else f"{rest / 1000:.3f}".rstrip("0") + "s"
    if h:
        return f"{h}h{m}m{sec}"
    if m:
        return f"{m}m{sec}"
    return sec


def schedule_pattern(spec: str, tz: str = "") -> tuple[str, Optional[float]]:
    """The Nats-Schedule header of a named schedule's spec, as strand's Go
    writer makes it, and for ``@every`` its interval in seconds: ``@every``
    a Go duration of at least 1 s (no time zone), a 5-field cron
    expression with ``0`` seconds put first, a 6-field one as it is, or a
    macro (@hourly, @daily, @weekly, @monthly, @yearly). The fields
    themselves are checked by the server. BadOption if it is none of these."""
    if not isinstance(spec, str) or not spec.strip():
        raise BadOption("schedule spec: empty")
    spec = spec.strip()
    if spec.startswith("@every "):
        text = spec[len("@every "):].strip()
        d = None if text.isdigit() else parse_ttl(text)  # Go's durations need a unit
        if d is None:
            raise BadOption(f"schedule spec {spec!r}: want @every and a Go duration (30s, 5m, 1h30m)")
        if d < 1:
            raise BadOption(f"schedule spec {spec!r}: the interval must be at least 1s")
        if tz:
            raise BadOption(f"schedule spec {spec!r}: an interval takes no time zone ({tz})")
        return "@every " + go_duration_ms(int(round(d * 1000))), d
    if tz == "Local":
        raise BadOption(f"time zone {tz!r}: name an IANA zone such as Europe/Paris (the server fires the schedule)")
    fields = _MACROS.get(spec, spec).split()
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        raise BadOption(f"cron spec {spec!r}: want 5 fields (minute hour day-of-month month day-of-week) "
                        f"or 6 (second first), got {len(fields)}")
    return " ".join(fields), None


def parse_ttl(s: Optional[str]) -> Optional[float]:
    """A Nats-TTL header in seconds: a number of seconds or a Go duration
    string (336h0m0s, 90s, 500ms); None if it is neither."""
    if not s:
        return None
    if s.isdigit():
        return float(s)
    parts = list(_DURATION.finditer(s))
    if not parts or "".join(p.group(0) for p in parts) != s:
        return None
    return sum(float(p.group(1)) * _UNIT_S[p.group(2)] for p in parts)


def envelope(func: str, args: Sequence[Any], *, task_id: str, queue: str = DEFAULT_QUEUE,
             kwargs: Optional[Mapping[str, Any]] = None, created_ms: Optional[int] = None,
             timeout_ms: int = 0, max_attempts: int = 0, result_ttl_ms: int = 0,
             meta: Optional[Mapping[str, str]] = None, trace: str = "", priority: str = "",
             key: str = "", unique: str = "", not_before_ms: int = 0) -> dict[str, Any]:
    """The envelope of a task, its keys in the order of the protocol's table
    (the Go codec's order); checks what it can without the server."""
    if not isinstance(func, str) or not func:
        raise BadOption("func: want a function name")
    valid_id(task_id)
    valid_queue(queue)
    env: dict[str, Any] = {"v": VERSION, "id": task_id, "func": func, "args": list(args)}
    if kwargs:
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            raise BadOption("kwargs: want a mapping with string keys")
        env["kwargs"] = dict(kwargs)
    env["queue"] = queue
    env["created"] = int(time.time() * 1000) if created_ms is None else int(created_ms)
    for opt, n in (("timeout_ms", timeout_ms), ("max_attempts", max_attempts), ("result_ttl_ms", result_ttl_ms)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise BadOption(f"{opt}: want a non-negative integer, got {n!r}")
        if n:
            env[opt] = n
    if meta:
        if not isinstance(meta, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise BadOption("meta: want a mapping of strings to strings")
        env["meta"] = dict(meta)
    if trace:
        env["trace"] = trace
    for name, v in (("priority", valid_priority(priority)), ("key", key), ("unique", unique)):
        if v:
            env[name] = v
    if not_before_ms:
        env["not_before"] = int(not_before_ms)
    return env


PRIORITIES = ("high", "normal", "low")
_KEY_RE = re.compile(r"^[A-Za-z0-9_=-]{1,128}$")


def valid_priority(priority: Optional[str]) -> str:
    """The envelope's priority of a priority option: "high", "low", or "" for normal."""
    if priority is None or priority == "" or priority == "normal":
        return ""
    if priority in ("high", "low"):
        return priority
    raise BadOption(f"priority: want one of high, normal, low, got {priority!r}")


def valid_key(key: str) -> str:
    """A flow key: one subject token of 1–128 of A–Z a–z 0–9 _ = -."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise BadOption(f"key: want 1-128 of A-Z a-z 0-9 _ = -, got {key!r}")
    return key


def cancellation(func: str, queue: str, *, created_ms: int = 0, meta: Optional[Mapping[str, str]] = None,
                 finished_ms: Optional[int] = None, reason: str = "cancelled by caller") -> dict[str, Any]:
    """The cancellation record c.<queue>.<id> a canceller writes, its keys in
    the Go codec's order; func, queue, created and meta copied from the envelope."""
    rec: dict[str, Any] = {"status": "cancelled", "func": func, "queue": queue}
    if created_ms:
        rec["created"] = created_ms
    if meta:
        rec["meta"] = dict(meta)
    rec["error"] = {"kind": "cancelled", "message": f"{func}: {reason}"}
    rec["finished"] = int(time.time() * 1000) if finished_ms is None else finished_ms
    return rec


def encode(value: Any, content_type: str) -> bytes:
    """value in msgpack (compact integers, floats as float64) or compact JSON;
    BadOption if it holds something the format cannot carry."""
    try:
        if content_type == JSON:
            return _json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        out: bytes = msgpack.packb(value, use_bin_type=True)
        return out
    except (TypeError, ValueError, OverflowError) as e:
        raise BadOption(f"cannot encode as {content_type}: {e}") from e


def content_type_of(header: Optional[str]) -> str:
    """The format a Content-Type header names (parameters ignored; absent = msgpack)."""
    if not header:
        return MSGPACK
    mt = header.split(";", 1)[0].strip().lower()
    return JSON if mt == JSON else MSGPACK


def decode_value(data: bytes, content_type: str) -> Any:
    """A value (an item, a result) in the format named; items are told apart
    by their Content-Type, never by their first byte."""
    try:
        if content_type == JSON:
            return _json.loads(data)
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except TypeError as e:  # a map key Python cannot hash
        raise ValueError(str(e)) from e


def decode_record(data: bytes) -> dict[str, Any]:
    """A record (a map), its format told by its first byte that is not white
    space: '{' is JSON, anything else msgpack. ValueError if it is not a map."""
    stripped = data.lstrip(b" \t\r\n")
    rec = decode_value(stripped, JSON if stripped[:1] == b"{" else MSGPACK)
    if not isinstance(rec, dict):
        raise ValueError(f"record is a {type(rec).__name__}, not a map")
    return rec


def record_format(data: bytes) -> str:
    """The format of a record, by its first byte that is not white space."""
    return JSON if data.lstrip(b" \t\r\n")[:1] == b"{" else MSGPACK


def as_cancelled(record: Mapping[str, Any], queue: str = "") -> dict[str, Any]:
    """What a cancellation record c.<queue>.<id> reads as: cancelled, kind
    cancelled, no result, whatever it holds (only workers write outcomes)."""
    out = dict(record)
    out["status"] = "cancelled"
    out.pop("result", None)
    err = out.get("error")
    if not isinstance(err, Mapping) or err.get("kind") != "cancelled":
        out["error"] = {"kind": "cancelled", "message": "cancelled by caller"}
    if queue and not out.get("queue"):
        out["queue"] = queue
    return out


def is_marker(data: bytes, headers: Optional[Mapping[str, str]]) -> bool:
    """Whether a stored message (or its event) is a marker, not a record."""
    h = headers or {}
    return not data or "KV-Operation" in h or "Nats-Marker-Reason" in h


def progress_of(state: Optional[Mapping[str, Any]]) -> Optional[Progress]:
    """The progress of a state record, if it has one."""
    p = (state or {}).get("progress")
    if not isinstance(p, Mapping):
        return None
    return Progress(done=int(p.get("done") or 0), total=int(p.get("total") or 0), note=str(p.get("note") or ""))


class Names:
    """Every subject and stream name of a deployment, from its prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = valid_prefix(prefix)
        self.bucket = prefix.upper()
        self.kv_stream = f"KV_{self.bucket}"
        self.tasks_stream = f"{self.bucket}_TASKS"
        self.items_stream = f"{self.bucket}_ITEMS"
        self.schedules_stream = f"{self.bucket}_SCHEDULES"
        self.flow_bucket = f"{self.bucket}_FLOW"
        self.flow_stream = f"KV_{self.flow_bucket}"

    def task(self, queue: str, task_id: str, lane: str = "") -> str:
        """A task's subject in its queue's lane ("" normal, "high", "low")."""
        if lane:
            return f"{self.prefix}.t.{queue}~{lane}.{task_id}"
        return f"{self.prefix}.t.{queue}.{task_id}"

    def id_subjects(self, task_id: str) -> str:
        """The subjects of a task id in every queue and lane."""
        return f"{self.prefix}.t.*.{task_id}"

    def flow(self, kind: str, queue: str, key: str) -> str:
        """A flow-control record's subject: $KV.<BUCKET>_FLOW.<kind>.<queue>.<key>."""
        return f"$KV.{self.flow_bucket}.{kind}.{queue}.{key}"

    def key(self, kind: str, queue: str, task_id: str) -> str:
        return f"$KV.{self.bucket}.{kind}.{queue}.{task_id}"

    def events(self, queue: str, task_id: str) -> str:
        return f"{self.prefix}.evt.*.{queue}.{task_id}"

    def items(self, queue: str, task_id: str) -> str:
        return f"{self.prefix}.items.{queue}.{task_id}"

    def sched(self, kind: str, queue: str, name: str) -> str:
        """A subject of the schedules stream: <prefix>.sched.<kind>.<queue>.<name>,
        for a firing (due, tick) <prefix>.sched.fire.<queue>.<kind>.<name>."""
        if kind in (SCHED_DUE, SCHED_TICK):
            return f"{self.prefix}.sched.fire.{queue}.{kind}.{name}"
        return f"{self.prefix}.sched.{kind}.{queue}.{name}"


def kind_of(subject: str) -> str:
    """The kind (s, r, c) of a record's subject or event: <…>.<kind>.<queue>.<id>."""
    parts = subject.split(".")
    return parts[-3] if len(parts) >= 3 else ""


def queue_of(subject: str) -> str:
    """The queue of a record's or task's subject: <…>.<queue>.<id> (a
    priority lane's <queue>~<lane> is its queue's)."""
    parts = subject.split(".")
    return parts[-2].split("~", 1)[0] if len(parts) >= 2 else ""
