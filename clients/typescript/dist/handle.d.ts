import { type ErrorInfo, type Outcome, type Progress, type Status } from "./wire.js";
/** Options of a wait: the caller's own limit (ms) and an AbortSignal. Without a timeout a wait lasts until the task ends. */
export interface WaitOptions {
    /** Give up after this many ms with WaitTimeout (the task goes on). */
    timeout?: number;
    /** Give up when this signal aborts (with its reason, or ClosedError). */
    signal?: AbortSignal;
    /** Called with each progress report while waiting (as watchProgress does); what it throws is ignored. */
    onProgress?: (p: Progress) => void;
}
/** What is known of a task: its status and the metadata of its run. */
export interface TaskInfo {
    id: string;
    queue?: string;
    func?: string;
    status: Status;
    attempt?: number;
    worker?: string;
    created?: Date;
    started?: Date;
    finished?: Date;
    /** The last progress report while it runs. */
    progress?: Progress;
    /** When a retrying task runs again. */
    nextAttempt?: Date;
    /** The task's error once it failed or was cancelled, or the last attempt's while it waits to retry. */
    error?: ErrorInfo;
    /** The submitter's metadata. */
    meta?: Record<string, string>;
    /** How many items an iterator task streamed. */
    items?: number;
    /** When a delayed task (status `scheduled`) is to run: its time, whole seconds. */
    runAt?: Date;
}
/** The original strand's callbacks: onItem for each streamed item as it comes, then onEnd with the outcome of a completed task, or onError. */
export interface StreamCallbacks {
    onItem?: (item: unknown, n: number) => void;
    onEnd?: (outcome: Outcome) => void;
    onError?: (err: unknown) => void;
}
/**
 * A handle to one task: `status()`, `isReady()`, `result()`, `cancel()`,
 * `metadata`, `items()`, `progress()`. `Client.submit` returns one;
 * `Client.open(id)` rebuilds one in any process. R is the result's type.
 */
export declare class Handle<R = unknown> {
    #private;
    /** The task's id. */
    readonly id: string;
    /** When a delayed task is to run (whole seconds; submitted with `at` or `after`), undefined for one that runs at once; for a handle from open, known once a read found it scheduled. */
    get runAt(): Date | undefined;
    /** The task's queue, once known: always for a handle from submit, for one from open once any record of the task was read. */
    get queue(): string | undefined;
    /** The task's function name, once known. */
    get func(): string | undefined;
    /** The task's status now, read in the protocol's order: its outcome, else its state, else its queued task, else its schedule (`scheduled` while delayed); `unknown` when none exists. */
    status(): Promise<Status>;
    /** Whether the task has ended (completed, failed, cancelled or dead). */
    isReady(): Promise<boolean>;
    /** The task's outcome record without waiting: null while it has none. */
    outcome(): Promise<Outcome | null>;
    /** The task's status, function, queue, times, worker, attempt, progress and metadata (`await handle.metadata`). */
    get metadata(): Promise<TaskInfo>;
    /** What is known of the task now: TaskInfo. */
    info(): Promise<TaskInfo>;
    /**
     * Waits for the task's outcome and returns the record, whatever its
     * status. Push: it subscribes to the task's events, reads the outcome
     * once (the task may have ended already), then takes the first outcome
     * or cancellation event; after a reconnect it reads again. Rejects with
     * WaitTimeout after `timeout` ms.
     */
    wait(opts?: WaitOptions): Promise<Outcome>;
    /**
     * Waits for the task to end and returns its result. A task that did not
     * complete throws its error: a TaskError of the class of its kind
     * (TaskFailed, Timeout, Cancelled, UnknownFunc, BadArgs, …). WaitTimeout
     * if `timeout` ms pass first.
     */
    result(opts?: WaitOptions): Promise<R>;
    /**
     * Cancels the task: a queued one never runs, a running one has its
     * context cancelled on its worker; it ends `cancelled` at once and
     * durably. Throws FinishedError if it had ended, NotFoundError if nothing
     * of it is left.
     */
    cancel(): Promise<void>;
    /** The task's last progress report: null while it has reported none (or once its state is gone). */
    progress(): Promise<Progress | null>;
    /**
     * Calls fn with each progress report of the task, live (the last one
     * stored first, if any), until the task ends; returns its outcome, as
     * wait does. The worker sends at most one report every 100 ms; what fn
     * throws is ignored.
     */
    watchProgress(fn: (p: Progress) => void, opts?: WaitOptions): Promise<Outcome>;
    /**
     * The task's streamed items (a handler returning an iterator), decoded,
     * as they are produced, from the first one however late the caller
     * attaches. It ends after the last item; a task that failed throws its
     * TaskError after the items it produced. A task that streams nothing
     * ends the iteration when its outcome is written. `timeout` bounds the
     * whole iteration (WaitTimeout). Items of a retried task start again at
     * the first with each attempt.
     */
    items(opts?: WaitOptions): AsyncGenerator<unknown, void, undefined>;
    /**
     * The original strand's callbacks: onItem for each item as it comes,
     * then onEnd with the outcome of a completed task, or onError with the
     * error of one that did not complete (or of the wait). Resolves with the
     * outcome when the task completed; on an error, resolves undefined when
     * onError is given, else rejects.
     */
    stream(cb: StreamCallbacks, opts?: WaitOptions): Promise<Outcome | undefined>;
}
