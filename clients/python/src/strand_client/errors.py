"""Errors of strand_client.

Errors of a task (its outcome was not ``completed``) are raised by
``Handle.result()`` as a ``TaskFailed``, or the subclass of its error kind
(``UnknownFunc``, ``BadArgs``, ``Timeout``, ``Cancelled``, …). Errors of the
client itself (a refused submission, a cancel of a finished task, a wait
that timed out) derive from ``StrandError`` too, but not from ``TaskFailed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

if TYPE_CHECKING:
    from ._client import Handle


class StrandError(Exception):
    """The base of every error strand_client raises."""


class TaskFailed(StrandError):
    """A task that ended other than ``completed``: its status (``failed``,
    ``dead``, ``cancelled``) and its error's kind and message, as its outcome
    record says. Kind ``error`` (the handler returned an error) is this class
    itself; the other kinds have a subclass each."""

    kind_name = "error"

    def __init__(self, task_id: str, status: str, kind: str, message: str,
                 outcome: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message or f"task {task_id} {status}")
        self.task_id = task_id
        self.status = status
        self.kind = kind
        self.message = message
        self.outcome: Mapping[str, Any] = outcome or {}


class Panic(TaskFailed):
    """The handler panicked (in a worker of another language: threw or raised)."""

    kind_name = "panic"


class Timeout(TaskFailed):
    """The handler ran past its time limit (the ``timeout`` submit option)."""

    kind_name = "timeout"


class Cancelled(TaskFailed):
    """The task was cancelled."""

    kind_name = "cancelled"


class UnknownFunc(TaskFailed):
    """No worker of the queue has a handler registered under the function name."""

    kind_name = "unknown_func"


class BadArgs(TaskFailed):
    """The args or kwargs do not fit the handler's parameters."""

    kind_name = "bad_args"


class Malformed(TaskFailed):
    """The worker could not decode the task's envelope."""

    kind_name = "malformed"


class TooLarge(TaskFailed):
    """The task's result (or an item) is larger than the server accepts."""

    kind_name = "too_large"


class Lost(TaskFailed):
    """The task's workers died too many times while running it."""

    kind_name = "lost"


class Crashed(TaskFailed):
    """The child process that ran the task died without an outcome."""

    kind_name = "crashed"


class Forbidden(TaskFailed):
    """The worker refused the caller (an allowlist)."""

    kind_name = "forbidden"


_BY_KIND: dict[str, type[TaskFailed]] = {
    c.kind_name: c
    for c in (TaskFailed, Panic, Timeout, Cancelled, UnknownFunc, BadArgs, Malformed, TooLarge, Lost,
              Crashed, Forbidden)
}


def error_class(kind: str) -> type[TaskFailed]:
    """The class raised for an error kind; ``TaskFailed`` for a kind it does not know."""
    return _BY_KIND.get(kind, TaskFailed)


def task_error(task_id: str, outcome: Mapping[str, Any]) -> TaskFailed:
    """The error that an outcome record which is not ``completed`` stands for."""
    err = outcome.get("error") or {}
    status = str(outcome.get("status", ""))
    kind = str(err.get("kind", "")) if isinstance(err, Mapping) else ""
    message = str(err.get("message", "")) if isinstance(err, Mapping) else ""
    if not kind and status == "cancelled":
        kind = "cancelled"
    return error_class(kind)(task_id, status, kind, message, outcome)


class BadOption(StrandError, ValueError):
    """A submission's argument or option is invalid (an id, a queue, a TTL, a
    value that cannot be encoded): nothing was sent."""


class EnvelopeTooLarge(StrandError):
    """The encoded task is larger than the server accepts: nothing was sent."""


class Duplicate(StrandError):
    """The id is taken: its task is queued or running, or (an id of your own)
    its outcome is kept. ``handle`` is a handle to the existing task."""

    def __init__(self, message: str, handle: "Handle[Any]") -> None:
        super().__init__(message)
        self.handle = handle


class NotFound(StrandError):
    """Nothing of the task is left: never submitted, expired, or its outcome expired."""


class Finished(StrandError):
    """A cancel of a task that has an outcome already: it changes nothing."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class WaitTimeout(StrandError, TimeoutError):
    """A wait (``result(timeout=…)``, ``items()``) gave up before the task ended.
    The task goes on; wait again, or cancel it."""


class Unavailable(StrandError):
    """strand's streams are missing or the server does not answer: start a
    worker (or ``strand dev``) first, or retry."""
