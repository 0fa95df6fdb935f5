// Errors of the client: a task's own failure (TaskError and a class per
// error kind, thrown by Handle.result), and refusals of the client's calls
// (a taken id, a finished task, a bad option, a wait that timed out).

import { JetStreamApiError } from "@nats-io/jetstream";

import type { Outcome, Status } from "./wire.js";
import type { Handle } from "./handle.js";

/** The base of every error this package throws; `kind` names what went wrong. */
export class StrandError extends Error {
  /** A short machine-readable name of the error: an error kind of the protocol, or the refusal's. */
  readonly kind: string;

  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

/**
 * A task that ended without completing: thrown by `Handle.result()`. Its
 * subclass names the error kind (`UnknownFunc`, `BadArgs`, `Timeout`, …);
 * `status` is the task's (`failed`, `cancelled`, `dead`), `outcome` its record.
 */
export class TaskError extends StrandError {
  /** The task's id. */
  readonly id: string;
  /** The task's final status: failed, cancelled or dead. */
  readonly status: Status;
  /** The task's outcome record as the server holds it. */
  readonly outcome: Outcome;

  constructor(id: string, outcome: Outcome) {
    const kind = outcome.error?.kind || outcome.status;
    super(kind, outcome.error?.message || `task ${id} ${outcome.status}`);
    this.id = id;
    this.status = outcome.status;
    this.outcome = outcome;
  }
}

/** The handler returned an error (kind `error`). */
export class TaskFailed extends TaskError {}
/** The handler panicked, or threw in a worker of another language (kind `panic`). */
export class Panic extends TaskError {}
/** The handler ran past the task's timeout (kind `timeout`). */
export class Timeout extends TaskError {}
/** The task was cancelled (kind `cancelled`). */
export class Cancelled extends TaskError {}
/** No handler is registered under the task's function name (kind `unknown_func`). */
export class UnknownFunc extends TaskError {}
/** The args or kwargs do not fit the handler's parameters (kind `bad_args`). */
export class BadArgs extends TaskError {}
/** The worker could not decode the task (kind `malformed`). */
export class Malformed extends TaskError {}
/** The result was larger than the server takes (kind `too_large`). */
export class TooLarge extends TaskError {}
/** The task's workers died too many times (kind `lost`). */
export class Lost extends TaskError {}
/** The child process running the task died (kind `crashed`). */
export class Crashed extends TaskError {}
/** The worker refused the task's caller (kind `forbidden`). */
export class Forbidden extends TaskError {}

const byKind: Record<string, new (id: string, outcome: Outcome) => TaskError> = {
  error: TaskFailed,
  panic: Panic,
  timeout: Timeout,
  cancelled: Cancelled,
  unknown_func: UnknownFunc,
  bad_args: BadArgs,
  malformed: Malformed,
  too_large: TooLarge,
  lost: Lost,
  crashed: Crashed,
  forbidden: Forbidden,
};

/** The error of an outcome that did not complete, of the class of its error kind (TaskError for a kind this client does not know). */
export function taskError(id: string, outcome: Outcome): TaskError {
  const cls = byKind[outcome.error?.kind ?? ""] ?? (outcome.status === "cancelled" ? Cancelled : TaskError);
  return new cls(id, outcome);
}

/**
 * The id is taken: its task is queued or running, or (an id of your own)
 * its outcome is kept. `handle` is a handle to the task that holds it,
 * whose result can be awaited.
 */
export class DuplicateError extends StrandError {
  readonly id: string;
  readonly handle: Handle;

  constructor(id: string, handle: Handle, detail = "") {
    super("duplicate", `duplicate task id ${id}${detail ? ` (${detail})` : ""}`);
    this.id = id;
    this.handle = handle;
  }
}

/** A cancel of a task that has an outcome already: it changes nothing. */
export class FinishedError extends StrandError {
  readonly id: string;
  readonly status: Status;

  constructor(id: string, status: Status) {
    super("finished", `task ${id} has finished (${status})`);
    this.id = id;
    this.status = status;
  }
}

/** Nothing of the task is left: never submitted, expired unrun, or its outcome expired. */
export class NotFoundError extends StrandError {
  readonly id: string;

  constructor(id: string, message = `task ${id} not found`) {
    super("not_found", message);
    this.id = id;
  }
}

/** An argument or option the client refuses before anything is sent: a bad id, queue, TTL, value. */
export class BadOption extends StrandError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("bad_option", message, options);
  }
}

/** The encoded task is larger than the server's max_payload allows: it was not sent. */
export class PayloadTooLarge extends StrandError {
  constructor(message: string) {
    super("too_large", message);
  }
}

/** No outcome arrived within the caller's own timeout: the task may still run. Not the task's `Timeout`. */
export class WaitTimeout extends StrandError {
  readonly id: string;

  constructor(id: string, ms: number) {
    super("wait_timeout", `task ${id}: no outcome after ${ms} ms`);
    this.id = id;
  }
}

/** The client was closed (or the caller aborted) while a call waited. */
export class ClosedError extends StrandError {
  constructor(message = "strand client closed") {
    super("closed", message);
  }
}

/** The server's err_code for a publish to a subject that holds a message: a queued or running task's id. */
export const ERR_CODE_SUBJECT_FULL = 10077;

/** Whether a failed call may succeed if sent again: no answer, no responder, or a stream that is not ready. */
export function transient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 503 && err.code !== ERR_CODE_SUBJECT_FULL;
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === "TimeoutError" ||
    e?.name === "NoRespondersError" ||
    /timeout|no responders|no stream response|disconnect|reconnect/i.test(e?.message ?? "")
  );
}

/** Describes a failed wire call, and says so when the streams do not exist. */
export function wireError(what: string, err: unknown, stream: string): Error {
  if (err instanceof StrandError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/no responders|no stream response|503/i.test(msg)) {
    return new StrandError("unavailable", `${what}: ${msg} (does stream ${stream} exist? start a strand worker or server first)`, { cause: err });
  }
  if (/permissions violation/i.test(msg)) {
    return new StrandError("forbidden", `${what}: ${msg}`, { cause: err });
  }
  return new StrandError("wire", `${what}: ${msg}`, { cause: err });
}
