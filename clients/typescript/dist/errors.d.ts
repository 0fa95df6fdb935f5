import type { Outcome, Status } from "./wire.js";
import type { Handle } from "./handle.js";
/** The base of every error this package throws; `kind` names what went wrong. */
export declare class StrandError extends Error {
    /** A short machine-readable name of the error: an error kind of the protocol, or the refusal's. */
    readonly kind: string;
    constructor(kind: string, message: string, options?: {
        cause?: unknown;
    });
}
/**
 * A task that ended without completing: thrown by `Handle.result()`. Its
 * subclass names the error kind (`UnknownFunc`, `BadArgs`, `Timeout`, …);
 * `status` is the task's (`failed`, `cancelled`, `dead`), `outcome` its record.
 */
export declare class TaskError extends StrandError {
    /** The task's id. */
    readonly id: string;
    /** The task's final status: failed, cancelled or dead. */
    readonly status: Status;
    /** The task's outcome record as the server holds it. */
    readonly outcome: Outcome;
    constructor(id: string, outcome: Outcome);
}
/** The handler returned an error (kind `error`). */
export declare class TaskFailed extends TaskError {
}
/** The handler panicked, or threw in a worker of another language (kind `panic`). */
export declare class Panic extends TaskError {
}
/** The handler ran past the task's timeout (kind `timeout`). */
export declare class Timeout extends TaskError {
}
/** The task was cancelled (kind `cancelled`). */
export declare class Cancelled extends TaskError {
}
/** No handler is registered under the task's function name (kind `unknown_func`). */
export declare class UnknownFunc extends TaskError {
}
/** The args or kwargs do not fit the handler's parameters (kind `bad_args`). */
export declare class BadArgs extends TaskError {
}
/** The worker could not decode the task (kind `malformed`). */
export declare class Malformed extends TaskError {
}
/** The result was larger than the server takes (kind `too_large`). */
export declare class TooLarge extends TaskError {
}
/** The task's workers died too many times (kind `lost`). */
export declare class Lost extends TaskError {
}
/** The child process running the task died (kind `crashed`). */
export declare class Crashed extends TaskError {
}
/** The worker refused the task's caller (kind `forbidden`). */
export declare class Forbidden extends TaskError {
}
/** The error of an outcome that did not complete, of the class of its error kind (TaskError for a kind this client does not know). */
export declare function taskError(id: string, outcome: Outcome): TaskError;
/**
 * The id is taken: its task is queued or running, or (an id of your own)
 * its outcome is kept. `handle` is a handle to the task that holds it,
 * whose result can be awaited.
 */
export declare class DuplicateError extends StrandError {
    readonly id: string;
    readonly handle: Handle;
    constructor(id: string, handle: Handle, detail?: string);
}
/** A cancel of a task that has an outcome already: it changes nothing. */
export declare class FinishedError extends StrandError {
    readonly id: string;
    readonly status: Status;
    constructor(id: string, status: Status);
}
/** Nothing of the task is left: never submitted, expired unrun, or its outcome expired. */
export declare class NotFoundError extends StrandError {
    readonly id: string;
    constructor(id: string, message?: string);
}
/** An argument or option the client refuses before anything is sent: a bad id, queue, TTL, value. */
export declare class BadOption extends StrandError {
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/** The encoded task is larger than the server's max_payload allows: it was not sent. */
export declare class PayloadTooLarge extends StrandError {
    constructor(message: string);
}
/** No outcome arrived within the caller's own timeout: the task may still run. Not the task's `Timeout`. */
export declare class WaitTimeout extends StrandError {
    readonly id: string;
    constructor(id: string, ms: number);
}
/** The client was closed (or the caller aborted) while a call waited. */
export declare class ClosedError extends StrandError {
    constructor(message?: string);
}
/** The server's err_code for a publish to a subject that holds a message: a queued or running task's id. */
export declare const ERR_CODE_SUBJECT_FULL = 10077;
/** Whether a failed call may succeed if sent again: no answer, no responder, or a stream that is not ready. */
export declare function transient(err: unknown): boolean;
/** Describes a failed wire call, and says so when the streams do not exist. */
export declare function wireError(what: string, err: unknown, stream: string): Error;
