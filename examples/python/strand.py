"""A strand producer for Python, written from docs/protocol.md (version 2) alone.

Submit a task, wait for its outcome through the events protocol (no polling),
read its status, cancel it. Needs nats-py and msgpack (requirements.txt):

    import asyncio, strand

    async def main():
        client = await strand.connect("nats://127.0.0.1:4222")
        task_id = await client.submit("add", [2, 3])
        print(await client.result(task_id))  # 5
        await client.close()

    asyncio.run(main())

The envelope functions (envelope, encode_envelope, decode_record) need only
msgpack; nats-py is imported when connecting.
"""

import asyncio
import datetime
import json
import re
import time
import uuid

import msgpack

VERSION = 2  # the protocol version this client writes
DEFAULT_TASK_TTL = "336h0m0s"  # 14 days, as strand's Go writer spells it
DEFAULT_RESULT_TTL_MS = 24 * 3600 * 1000  # a canceller's default when the task names none
MAX_RESULT_TTL_MS = 365 * 24 * 3600 * 1000
TERMINAL = frozenset({"completed", "failed", "cancelled", "dead"})
ERR_SUBJECT_FULL = 10077  # a second publish on a queued task's subject: the id is taken
ERR_WRONG_LAST_SEQUENCE = 10071  # a create-only write over an existing record
_ID = re.compile(r"[A-Za-z0-9_=-]{1,128}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_MS = {"h": 3600e3, "m": 60e3, "s": 1e3, "ms": 1, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}


class TaskError(Exception):
    """A task that ended other than completed: its outcome's status and error."""

    def __init__(self, task_id, outcome):
        err = outcome.get("error") or {}
        super().__init__(err.get("message") or f"task {task_id} {outcome.get('status')}")
        self.task_id = task_id
        self.status = outcome.get("status")
        self.kind = err.get("kind", "")
        self.outcome = outcome


class DuplicateError(Exception):
    """The id is taken: its task is queued or running, or (an id of your own) its outcome is kept."""


class FinishedError(Exception):
    """A cancel of a task that has an outcome already: it changes nothing."""


class NotFoundError(Exception):
    """A cancel of a task of which nothing is left (never submitted, or expired)."""


def envelope(func, args=(), *, task_id, queue="default", kwargs=None, timeout_ms=0,
             max_attempts=0, result_ttl_ms=0, meta=None, created=None):
    """The envelope of a task, its keys in the order of the protocol's table."""
    if not _ID.fullmatch(task_id):
        raise ValueError(f"bad task id {task_id!r}")
    if not _QUEUE.fullmatch(queue):
        raise ValueError(f"bad queue {queue!r}")
    env = {"v": VERSION, "id": task_id, "func": func, "args": list(args)}
    if kwargs:
        env["kwargs"] = dict(kwargs)
    env["queue"] = queue
    env["created"] = int(time.time() * 1000) if created is None else int(created)
    if timeout_ms:
        env["timeout_ms"] = int(timeout_ms)
    if max_attempts:
        env["max_attempts"] = int(max_attempts)
    if result_ttl_ms:
        env["result_ttl_ms"] = int(result_ttl_ms)
    if meta:
        env["meta"] = {str(k): str(v) for k, v in meta.items()}
    return env


def encode_envelope(env, *, use_json=False):
    """The payload and the Content-Type of env."""
    if use_json:
        return json.dumps(env, separators=(",", ":")).encode(), "application/json"
    return msgpack.packb(env), "application/msgpack"


def decode_record(data):
    """Decodes a record (a map): JSON if its first non-space byte is '{', else msgpack."""
    stripped = data.lstrip(b" \t\r\n")
    if stripped[:1] == b"{":
        return json.loads(stripped)
    return msgpack.unpackb(data)


def as_cancelled(record):
    """The protocol's rule for a cancellation record c.<queue>.<id>: it reads
    as cancelled, kind cancelled, no result, whatever it holds."""
    out = dict(record, status="cancelled")
    out.pop("result", None)
    if (out.get("error") or {}).get("kind") != "cancelled":
        out["error"] = {"kind": "cancelled", "message": "cancelled by caller"}
    return out


def ttl_ms(s):
    """A Nats-TTL header in ms: seconds, or a Go duration string (336h0m0s,
    90s, 500ms); None if it is neither."""
    if not s:
        return None
    if s.isdigit():
        return int(s) * 1000
    parts = list(_DURATION.finditer(s))
    if not parts or "".join(p.group(0) for p in parts) != s:
        return None
    return sum(float(p.group(1)) * _UNIT_MS[p.group(2)] for p in parts)


def _is_marker(data, headers):
    headers = headers or {}
    return not data or "KV-Operation" in headers or "Nats-Marker-Reason" in headers


def _kind(subject):
    """The kind (s, r, c) of a record's subject or event: <…>.<kind>.<queue>.<id>."""
    return subject.split(".")[-3]


async def connect(servers="nats://127.0.0.1:4222", prefix="strand", **options):
    """Connects to NATS; prefix names the deployment (default strand)."""
    import nats  # nats-py

    nc = await nats.connect(servers, **options)
    return Client(nc, prefix)


class Client:
    """A producer: submits tasks, waits for outcomes, reads status, cancels."""

    def __init__(self, nc, prefix="strand"):
        self.nc = nc
        self.prefix = prefix
        self.bucket = prefix.upper()
        self.kv_stream = f"KV_{self.bucket}"
        self.tasks_stream = f"{self.bucket}_TASKS"
        self.js = nc.jetstream()
        self.jsm = nc.jsm()
        self.queues = {}  # id → queue of the tasks submitted here

    async def submit(self, func, args=(), *, task_id=None, queue="default", use_json=False,
                     task_ttl=DEFAULT_TASK_TTL, **options):
        """Publishes strand.t.<queue>.<id>; returns the id. options: kwargs
        (for a handler that takes them), timeout_ms, max_attempts,
        result_ttl_ms, meta. Raises DuplicateError if the id is taken."""
        from nats.js.errors import APIError

        own = task_id is not None
        task_id = task_id if own else str(uuid.uuid4())
        env = envelope(func, args, task_id=task_id, queue=queue, **options)
        payload, content_type = encode_envelope(env, use_json=use_json)
        # An id of your own stays taken while its outcome is kept: the
        # server only refuses it while the task is queued or running.
        if own and await self.outcome(task_id, queue=queue) is not None:
            raise DuplicateError(f"duplicate task id {task_id}")
        headers = {"Nats-TTL": task_ttl, "Content-Type": content_type, "Strand-Func": func}
        if own:
            headers["Strand-Own-Id"] = "1"
        try:
            # A JetStream publish (a request): a core publish to a taken subject is dropped silently.
            await self.js.publish(f"{self.prefix}.t.{queue}.{task_id}", payload, headers=headers)
        except APIError as e:
            if e.err_code == ERR_SUBJECT_FULL:
                raise DuplicateError(f"duplicate task id {task_id}") from e
            raise
        self.queues[task_id] = queue
        return task_id

    async def _get(self, stream, subject):
        """A direct get of subject's last message in stream; None when absent or a marker."""
        from nats.js.errors import NotFoundError as NatsNotFound

        try:
            msg = await self.jsm.get_last_msg(stream, subject, direct=True)
        except NatsNotFound:
            return None
        if _is_marker(msg.data, msg.headers):
            return None
        return msg

    async def _queue(self, task_id, queue):
        if not _ID.fullmatch(task_id):
            raise ValueError(f"bad task id {task_id!r}")
        return queue or self.queues.get(task_id) or await self.locate(task_id)

    async def locate(self, task_id):
        """The task's queue: from any of its records ($KV.<B>.*.*.<id>), else
        its queued task (<prefix>.t.*.<id>); None when nothing of it exists."""
        rec = await self._get(self.kv_stream, f"$KV.{self.bucket}.*.*.{task_id}")
        if rec is not None:
            return rec.subject.split(".")[-2]
        task = await self._get(self.tasks_stream, f"{self.prefix}.t.*.{task_id}")
        return task.subject.split(".")[-2] if task is not None else None

    @staticmethod
    def _decode_outcome(subject, data):
        rec = decode_record(data)
        return as_cancelled(rec) if _kind(subject) == "c" else rec

    async def outcome(self, task_id, queue=None):
        """The outcome record: the first written of r.<queue>.<id> and
        c.<queue>.<id> (a cancellation reads as cancelled); None while there is none."""
        queue = await self._queue(task_id, queue)
        if not queue:
            return None
        r = await self._get(self.kv_stream, f"$KV.{self.bucket}.r.{queue}.{task_id}")
        c = await self._get(self.kv_stream, f"$KV.{self.bucket}.c.{queue}.{task_id}")
        if r is None and c is None:
            return None
        first = r if c is None or (r is not None and r.seq < c.seq) else c
        return self._decode_outcome(first.subject, first.data)

    async def wait(self, task_id, timeout=60, queue=None):
        """The outcome record, waited for as the protocol says: subscribe to
        <prefix>.evt.*.<queue>.<id> (outcome, cancellation and state events,
        in the order the server stored them), flush, read the outcome, else
        take the first outcome or cancellation event. Raises
        asyncio.TimeoutError after timeout seconds."""
        queue = await self._queue(task_id, queue) or "default"
        sub = await self.nc.subscribe(f"{self.prefix}.evt.*.{queue}.{task_id}")
        try:
            await self.nc.flush()
            got = await self.outcome(task_id, queue=queue)
            if got is not None:
                return got
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError(f"task {task_id}: no outcome after {timeout} s")
                try:
                    msg = await sub.next_msg(timeout=left)
                except Exception as e:  # nats-py raises its own TimeoutError
                    if "imeout" in type(e).__name__:
                        raise asyncio.TimeoutError(f"task {task_id}: no outcome after {timeout} s") from e
                    raise
                if _kind(msg.subject) != "s" and not _is_marker(msg.data, msg.headers):
                    return self._decode_outcome(msg.subject, msg.data)
        finally:
            await sub.unsubscribe()

    async def result(self, task_id, timeout=60, queue=None):
        """Waits, then returns the result of a completed task, else raises TaskError."""
        outcome = await self.wait(task_id, timeout, queue=queue)
        if outcome.get("status") != "completed":
            raise TaskError(task_id, outcome)
        return outcome.get("result")

    async def status(self, task_id, queue=None):
        """The status, read in the protocol's order: the outcome, else the
        queued task (absent: the outcome again, else unknown) and its state:
        completed, failed, cancelled, dead, running, retrying, pending or unknown."""
        queue = await self._queue(task_id, queue)
        if not queue:
            return "unknown"
        o = await self.outcome(task_id, queue=queue)
        if o is not None:
            return o["status"]
        if await self._get(self.tasks_stream, f"{self.prefix}.t.{queue}.{task_id}") is None:
            o = await self.outcome(task_id, queue=queue)  # it may have finished between the reads
            return o["status"] if o is not None else "unknown"
        s = await self._get(self.kv_stream, f"$KV.{self.bucket}.s.{queue}.{task_id}")
        return decode_record(s.data)["status"] if s is not None else "pending"

    async def cancel(self, task_id, queue=None, result_ttl_ms=DEFAULT_RESULT_TTL_MS):
        """Cancels a queued or running task: creates c.<queue>.<id>. Raises
        FinishedError if it has an outcome, NotFoundError if nothing of it is left."""
        from nats.js.errors import APIError

        queue = await self._queue(task_id, queue)
        if not queue:
            raise NotFoundError(f"task {task_id} not found")
        o = await self.outcome(task_id, queue=queue)
        if o is not None:
            raise FinishedError(f"task {task_id} has finished ({o['status']})")
        task = await self._get(self.tasks_stream, f"{self.prefix}.t.{queue}.{task_id}")
        if task is None:
            o = await self.outcome(task_id, queue=queue)
            if o is not None:
                raise FinishedError(f"task {task_id} has finished ({o['status']})")
            raise NotFoundError(f"task {task_id} not found")
        hdrs = task.headers or {}
        use_json = hdrs.get("Content-Type", "").startswith("application/json")
        env = decode_record(task.data)
        # The record outlives the queued task: the longer of the result TTL
        # and what is left of the task TTL.
        result_ms = env.get("result_ttl_ms") or result_ttl_ms
        result_ms = min(max(result_ms, 1000), MAX_RESULT_TTL_MS)
        left = 0
        task_ttl = ttl_ms(hdrs.get("Nats-TTL"))
        if task_ttl is not None and task.time is not None:
            now = datetime.datetime.now(datetime.timezone.utc)
            left = (task.time - now).total_seconds() * 1000 + task_ttl
        func = env.get("func") or hdrs.get("Strand-Func", "")
        rec = {"status": "cancelled",
               "error": {"kind": "cancelled", "message": f"{func}: cancelled by caller"},
               "finished": int(time.time() * 1000), "func": func, "queue": queue}
        for k in ("created", "meta"):
            if env.get(k):
                rec[k] = env[k]
        payload, content_type = encode_envelope(rec, use_json=use_json)
        headers = {"Content-Type": content_type, "Nats-TTL": str(-(-int(max(result_ms, left)) // 1000)),
                   "Nats-Expected-Last-Subject-Sequence": "0"}  # create-only
        try:
            ack = await self.js.publish(f"$KV.{self.bucket}.c.{queue}.{task_id}", payload, headers=headers)
        except APIError as e:
            if e.err_code == ERR_WRONG_LAST_SEQUENCE:
                raise FinishedError(f"task {task_id} has finished (cancelled)") from e
            raise
        # The task may have finished between the reads and the write.
        r = await self._get(self.kv_stream, f"$KV.{self.bucket}.r.{queue}.{task_id}")
        if r is not None and r.seq < ack.seq:
            raise FinishedError(f"task {task_id} has finished ({decode_record(r.data)['status']})")

    async def close(self):
        await self.nc.drain()
