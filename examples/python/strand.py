"""A strand producer for Python, written from docs/protocol.md alone.

Submit a task, wait for its outcome through the events protocol (no polling),
read its status. Needs nats-py and msgpack (requirements.txt):

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
import json
import re
import time
import uuid

import msgpack

DEFAULT_TASK_TTL = "336h0m0s"  # 14 days, as strand's Go writer spells it
TERMINAL = frozenset({"completed", "failed", "cancelled", "dead"})
_ID = re.compile(r"[A-Za-z0-9_=-]{1,128}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
    """The id is taken: a task with it was submitted within the task TTL."""


def envelope(func, args=(), *, task_id, queue="default", kwargs=None, timeout_ms=0,
             max_attempts=0, result_ttl_ms=0, meta=None, created=None):
    """The envelope of a task, its keys in the order of the protocol's table."""
    if not _ID.fullmatch(task_id):
        raise ValueError(f"bad task id {task_id!r}")
    if not _QUEUE.fullmatch(queue):
        raise ValueError(f"bad queue {queue!r}")
    env = {"v": 1, "id": task_id, "func": func, "args": list(args)}
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
    """Decodes a state or outcome record: JSON if its first non-space byte is '{', else msgpack."""
    stripped = data.lstrip(b" \t\r\n")
    if stripped[:1] == b"{":
        return json.loads(stripped)
    return msgpack.unpackb(data)


def _is_marker(data, headers):
    headers = headers or {}
    return not data or "KV-Operation" in headers or "Nats-Marker-Reason" in headers


async def connect(servers="nats://127.0.0.1:4222", prefix="strand", **options):
    """Connects to NATS; prefix names the deployment (default strand)."""
    import nats  # nats-py

    nc = await nats.connect(servers, **options)
    return Client(nc, prefix)


class Client:
    """A producer: submits tasks, waits for outcomes, reads status."""

    def __init__(self, nc, prefix="strand"):
        self.nc = nc
        self.prefix = prefix
        self.bucket = prefix.upper()
        self.stream = f"KV_{self.bucket}"
        self.js = nc.jetstream()
        self.jsm = nc.jsm()

    async def submit(self, func, args=(), *, task_id=None, queue="default", use_json=False,
                     task_ttl=DEFAULT_TASK_TTL, **options):
        """Creates t.<queue>.<id> create-only; returns the id. options: kwargs,
        timeout_ms, max_attempts, result_ttl_ms, meta."""
        from nats.js.errors import APIError

        task_id = task_id or str(uuid.uuid4())
        env = envelope(func, args, task_id=task_id, queue=queue, **options)
        payload, content_type = encode_envelope(env, use_json=use_json)
        headers = {
            "Nats-Expected-Last-Subject-Sequence": "0",  # create-only
            "Nats-TTL": task_ttl,
            "Content-Type": content_type,
            "Strand-Func": func,
        }
        try:
            await self.js.publish(f"$KV.{self.bucket}.t.{queue}.{task_id}", payload, headers=headers)
        except APIError as e:
            if e.err_code == 10071:
                raise DuplicateError(f"duplicate task id {task_id}") from e
            raise
        return task_id

    async def _get(self, key):
        """The record under key, or None when absent or a marker."""
        from nats.js.errors import NotFoundError

        try:
            msg = await self.jsm.get_last_msg(self.stream, f"$KV.{self.bucket}.{key}", direct=True)
        except NotFoundError:
            return None
        if _is_marker(msg.data, msg.headers):
            return None
        return msg

    async def wait(self, task_id, timeout=60):
        """The outcome record, waited for as the protocol says: subscribe to
        <prefix>.evt.r.<id>, flush, read r.<id>, else wait for the first
        outcome event. Raises asyncio.TimeoutError after timeout seconds."""
        sub = await self.nc.subscribe(f"{self.prefix}.evt.r.{task_id}")
        try:
            await self.nc.flush()
            got = await self._get(f"r.{task_id}")
            if got is not None:
                return decode_record(got.data)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError(f"task {task_id}: no outcome after {timeout} s")
                msg = await sub.next_msg(timeout=left)
                if not _is_marker(msg.data, msg.headers):
                    return decode_record(msg.data)
        finally:
            await sub.unsubscribe()

    async def result(self, task_id, timeout=60):
        """Waits, then returns the result of a completed task, else raises TaskError."""
        outcome = await self.wait(task_id, timeout)
        if outcome.get("status") != "completed":
            raise TaskError(task_id, outcome)
        return outcome.get("result")

    async def status(self, task_id):
        """The status, read r → s → t: completed, failed, cancelled, dead,
        running, retrying, pending or unknown."""
        from nats.js.errors import APIError

        for key in (f"r.{task_id}", f"s.{task_id}"):
            got = await self._get(key)
            if got is not None:
                return decode_record(got.data)["status"]
        task = await self._get(f"t.*.{task_id}")  # the queue is not known here
        if task is None:
            return "unknown"
        queue = task.subject.split(".")[-2]
        try:
            info = await self.jsm.consumer_info(self.stream, f"{self.prefix}-{queue}")
        except APIError:
            return "pending"  # no consumer yet: nothing ran
        if task.seq <= info.ack_floor.stream_seq:
            return "unknown"  # it ran, and its outcome has expired
        return "pending"

    async def close(self):
        await self.nc.drain()
