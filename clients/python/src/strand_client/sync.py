"""The synchronous API: strand_client without asyncio.

A thin wrapper: a ``SyncClient`` runs an asyncio client on an event loop of
its own, in a background thread, and every call waits for it::

    from strand_client import sync

    with sync.connect("nats://127.0.0.1:4222") as c:
        h = c.submit("add", 2, 3)
        print(h.result(timeout=20))  # 5

Callbacks (progress) are called on that background thread.
"""

from __future__ import annotations

import datetime

import asyncio
import threading
from typing import Any, Awaitable, Callable, Generic, Iterator, Mapping, Optional, ParamSpec, Sequence, TypeVar, Union

from . import _client
from ._client import Handle, Outcome, ProgressCallback
from ._wire import Duration, Progress, Status
from .errors import StrandError


R = TypeVar("R")
T = TypeVar("T")
P = ParamSpec("P")


class _Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="strand-client", daemon=True)
        self.thread.start()

    def run(self, aw: Awaitable[T]) -> T:
        if threading.current_thread() is self.thread:
            raise StrandError("strand_client.sync called from its own callback: use the asyncio API there")

        async def call() -> T:
            return await aw

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class SyncHandle(Generic[R]):
    """A task, as ``Handle`` but with plain (blocking) methods."""

    def __init__(self, handle: Handle[R], loop: _Loop) -> None:
        self.handle = handle
        self._loop = loop

    def __repr__(self) -> str:
        return f"Sync{self.handle!r}"

    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def queue(self) -> str:
        return self.handle.queue

    @property
    def func(self) -> str:
        return self.handle.func

    @property
    def metadata(self) -> dict[str, Any]:
        """As Handle.metadata."""
        return self.handle.metadata

    @property
    def run_at(self) -> Optional["datetime.datetime"]:
        """As Handle.run_at."""
        return self.handle.run_at

    def status(self) -> Status:
        """As Handle.status."""
        return self._loop.run(self.handle.status())

    def is_ready(self) -> bool:
        """As Handle.is_ready."""
        return self._loop.run(self.handle.is_ready())

    def wait(self, timeout: Optional[Duration] = None, on_progress: Optional[ProgressCallback] = None) -> Outcome:
        """As Handle.wait."""
        return self._loop.run(self.handle.wait(timeout, on_progress))

    def result(self, timeout: Optional[Duration] = None, on_progress: Optional[ProgressCallback] = None) -> R:
        """As Handle.result: the result, or the TaskFailed of the task's error kind."""
        return self._loop.run(self.handle.result(timeout, on_progress))

    def cancel(self) -> None:
        """As Handle.cancel."""
        self._loop.run(self.handle.cancel())

    def progress(self) -> Optional[Progress]:
        """As Handle.progress."""
        return self._loop.run(self.handle.progress())

    def watch_progress(self, callback: ProgressCallback, timeout: Optional[Duration] = None) -> Outcome:
        """As Handle.watch_progress (callback runs on the client's thread)."""
        return self._loop.run(self.handle.watch_progress(callback, timeout))

    def stream(self, on_iter: Optional[Callable[[Any], Any]] = None, on_end: Optional[Callable[[Outcome], Any]] = None,
               on_error: Optional[Callable[[StrandError], Any]] = None,
               timeout: Optional[Duration] = None) -> Optional[Outcome]:
        """As Handle.stream (callbacks run on the client's thread)."""
        return self._loop.run(self.handle.stream(on_iter, on_end, on_error, timeout))

    def items(self, timeout: Optional[Duration] = None) -> Iterator[Any]:
        """As Handle.items, as a plain iterator."""
        agen = self.handle.items(timeout)
        try:
            while True:
                try:
                    yield self._loop.run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._loop.run(agen.aclose())


class SyncClient:
    """A Client with plain (blocking) methods; use ``sync.connect``."""

    def __init__(self, client: _client.Client, loop: _Loop) -> None:
        self.client = client
        self._loop = loop

    def __enter__(self) -> "SyncClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def submit(self, func: str, *args: Any, **options: Any) -> SyncHandle[Any]:
        """As Client.submit (same options)."""
        return SyncHandle(self._loop.run(self.client.submit(func, *args, **options)), self._loop)

    def put_schedule(self, name: str, spec: str, func: str, *args: Any, **options: Any) -> None:
        """As Client.put_schedule (same options)."""
        self._loop.run(self.client.put_schedule(name, spec, func, *args, **options))

    def schedules(self) -> list[_client.ScheduleInfo]:
        """As Client.schedules."""
        return self._loop.run(self.client.schedules())

    def get_schedule(self, name: str) -> _client.ScheduleInfo:
        """As Client.get_schedule."""
        return self._loop.run(self.client.get_schedule(name))

    def pause_schedule(self, name: str) -> None:
        """As Client.pause_schedule."""
        self._loop.run(self.client.pause_schedule(name))

    def resume_schedule(self, name: str) -> None:
        """As Client.resume_schedule."""
        self._loop.run(self.client.resume_schedule(name))

    def delete_schedule(self, name: str) -> None:
        """As Client.delete_schedule."""
        self._loop.run(self.client.delete_schedule(name))

    def open(self, id: str, queue: Optional[str] = None) -> SyncHandle[Any]:
        """As Client.open."""
        return SyncHandle(self._loop.run(self.client.open(id, queue)), self._loop)

    def task(self, name: Optional[str] = None, **options: Any) -> Callable[[Callable[P, R]], "SyncTaskFunc[P, R]"]:
        """``@client.task("name")``: as strand_client.task, submitting on this client."""
        return task(name, client=self, **options)

    def close(self) -> None:
        """Closes the connection and stops the client's thread."""
        global _default
        if _default is self:
            _default = None
        try:
            self._loop.run(self.client.close())
        finally:
            self._loop.stop()


class SyncTaskFunc(Generic[P, R]):
    """A stub turned into a submitter by ``sync.task``: calling it submits and returns a SyncHandle."""

    def __init__(self, name: str, stub: Callable[P, R], client: Optional[SyncClient],
                 options: Mapping[str, Any]) -> None:
        self._fn: _client.TaskFunc[P, R] = _client.TaskFunc(name, stub, None, options)
        self._client = client
        self.name = name

    def options(self, **options: Any) -> "SyncTaskFunc[P, R]":
        """The same submitter with more submit options."""
        return SyncTaskFunc(self.name, self._fn.stub, self._client, {**self._fn._options, **options})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> SyncHandle[R]:
        c = self._client or default_client()
        pos, kw = self._fn.split(*args, **kwargs)
        opts = dict(self._fn._options)
        if kw:
            opts["kwargs"] = {**(opts.get("kwargs") or {}), **kw}
        return c.submit(self.name, *pos, **opts)


def task(name: Optional[str] = None, *, client: Optional[SyncClient] = None,
         **options: Any) -> Callable[[Callable[P, R]], SyncTaskFunc[P, R]]:
    """As strand_client.task, for the synchronous API: calling the stub submits and returns a SyncHandle."""
    def wrap(stub: Callable[P, R]) -> SyncTaskFunc[P, R]:
        return SyncTaskFunc(name or stub.__name__, stub, client, options)
    return wrap


_default: Optional[SyncClient] = None


def default_client() -> SyncClient:
    """The client ``sync.task`` submitters use when they were given none."""
    if _default is None:
        raise StrandError("no client: connect first (strand_client.sync.connect(...)) or pass client=")
    return _default


def connect(servers: Union[str, Sequence[str]] = "nats://127.0.0.1:4222", **options: Any) -> SyncClient:
    """As strand_client.connect (same options), for the synchronous API."""
    global _default
    loop = _Loop()
    try:
        c = loop.run(_client.connect(servers, **options))
    except BaseException:
        loop.stop()
        raise
    if _client._default is c:
        _client.set_default_client(None)  # the async default is for async callers
    sc = SyncClient(c, loop)
    if _default is None:
        _default = sc
    return sc


__all__ = ["connect", "SyncClient", "SyncHandle", "SyncTaskFunc", "task", "default_client"]
