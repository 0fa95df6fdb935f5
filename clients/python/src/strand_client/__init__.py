"""strand_client: submit tasks to strand's workers from Python.

strand is a task queue on NATS JetStream; this package speaks its wire
protocol (docs/protocol.md, version 2) with nats-py and msgpack::

    import asyncio, strand_client as s

    async def main():
        c = await s.connect("nats://127.0.0.1:4222")
        h = await c.submit("add", 2, 3)
        print(await h.result(timeout=20))  # 5
        await c.close()

    asyncio.run(main())

``strand_client.sync`` is the same API without asyncio.
"""

from ._client import Client, Handle, Outcome, ProgressCallback, ScheduleInfo, TaskFunc, connect, default_client, set_default_client, task, uuid7
from ._wire import VERSION, Progress, Status
from .errors import (BadArgs, BadOption, Cancelled, Crashed, Duplicate, EnvelopeTooLarge, Finished, Forbidden, Lost,
                     Malformed, NotFound, Panic, StrandError, TaskFailed, Timeout, TooLarge, Unavailable, UnknownFunc,
                     WaitTimeout, error_class)

__version__ = "0.1.0"

__all__ = [
    "connect", "Client", "Handle", "Outcome", "ScheduleInfo", "Progress", "ProgressCallback", "Status", "TaskFunc", "task",
    "default_client", "set_default_client", "uuid7", "VERSION",
    "StrandError", "TaskFailed", "Panic", "Timeout", "Cancelled", "UnknownFunc", "BadArgs", "Malformed",
    "TooLarge", "Lost", "Crashed", "Forbidden", "error_class",
    "BadOption", "EnvelopeTooLarge", "Duplicate", "NotFound", "Finished", "WaitTimeout", "Unavailable",
]
