/** The protocol version this client writes (`codec.Version` in Go). */
export declare const VERSION = 2;
/** A task's status: the first three while it runs, the next four once it has ended; `unknown` when nothing describes it. */
export type Status = "scheduled" | "pending" | "running" | "retrying" | "completed" | "failed" | "cancelled" | "dead" | "unknown";
/** The statuses after which a task never changes again. */
export declare const TERMINAL: ReadonlySet<Status>;
/** An error as records carry it: a kind of docs/protocol.md's table and a readable message. */
export interface ErrorInfo {
    kind: string;
    message: string;
}
/** A handler's progress report: `total` 0 means unknown. */
export interface Progress {
    done: number;
    total: number;
    note?: string;
}
/** A task's terminal record (`r.<queue>.<id>`, or its cancellation `c.<queue>.<id>`), decoded. */
export interface Outcome {
    status: Status;
    result?: unknown;
    error?: ErrorInfo;
    attempt?: number;
    started?: number;
    finished?: number;
    worker?: string;
    items?: number;
    func?: string;
    queue?: string;
    created?: number;
    meta?: Record<string, string>;
    [key: string]: unknown;
}
/** A task's state record (`s.<queue>.<id>`) while it has no outcome. */
export interface State {
    status: Status;
    attempt?: number;
    worker?: string;
    started?: number;
    progress?: Progress;
    next_attempt?: number;
    last_error?: ErrorInfo;
    func?: string;
    queue?: string;
    [key: string]: unknown;
}
/** The task envelope as it travels (docs/protocol.md, "The envelope"). */
export interface Envelope {
    v: number;
    id: string;
    func: string;
    args?: unknown[];
    kwargs?: Record<string, unknown>;
    queue?: string;
    created?: number;
    /** Reserved: workers ignore it. */
    deadline?: number;
    timeout_ms?: number;
    max_attempts?: number;
    result_ttl_ms?: number;
    meta?: Record<string, string>;
    trace?: string;
    /** Flow control (docs/protocol.md): "high" or "low" (absent = normal). */
    priority?: string;
    /** The task's flow key (uniqueness, debounce, limits). */
    key?: string;
    /** "for" or "finished": the key is unique. */
    unique?: string;
    /** Unix ms: not started before (debounce). */
    not_before?: number;
    [key: string]: unknown;
}
/** The encodings of a task and so of its records and result. */
export type Format = "msgpack" | "json";
/** Content-Type of each format. */
export declare const CONTENT_TYPE: Record<Format, string>;
/** Throws BadOption unless id is a task id: 1–128 characters of A–Z a–z 0–9 _ = -. */
export declare function checkID(id: unknown): string;
/** Throws BadOption unless queue is a queue name: 1–64 characters of A–Z a–z 0–9 _ -. */
export declare function checkQueue(queue: unknown): string;
/** The names of one deployment (docs/protocol.md, "Names"). */
export declare class Names {
    readonly prefix: string;
    readonly bucket: string;
    constructor(prefix?: string);
    /** The bucket's stream, KV_STRAND. */
    get kvStream(): string;
    /** The work-queue stream of queued tasks, STRAND_TASKS. */
    get tasksStream(): string;
    /** The stream of streamed items, STRAND_ITEMS. */
    get itemsStream(): string;
    /** The stream of delayed tasks and named schedules, STRAND_SCHEDULES. */
    get schedulesStream(): string;
    /**
     * A subject of the schedules stream: <prefix>.sched.<kind>.<queue>.<name>,
     * for a firing (due, tick) <prefix>.sched.fire.<queue>.<kind>.<name>.
     */
    sched(kind: "at" | "due" | "cron" | "tick" | "last", queue: string, name: string): string;
    /** The subject of a queued task, in its queue's lane ("" normal, "high", "low"). */
    task(queue: string, id: string, lane?: string): string;
    /** The subjects of a task id in every queue and lane. */
    idSubjects(id: string): string;
    /** The flow-control bucket, <BUCKET>_FLOW. */
    get flowBucket(): string;
    /** The stream of the flow-control bucket. */
    get flowStream(): string;
    /** A flow-control record's subject: $KV.<BUCKET>_FLOW.<kind>.<queue>.<key>. */
    flow(kind: "u" | "d", queue: string, key: string): string;
    /** The key of a task's record of kind s, r or c. */
    key(kind: "s" | "r" | "c", queue: string, id: string): string;
    /** The subject a key is stored on. */
    keySubject(key: string): string;
    /** The events of a task: every write of its records, republished. */
    events(queue: string, id: string): string;
    /** The subject of a task's streamed items and their end marker. */
    items(queue: string, id: string): string;
}
/** Reads a subject's last three tokens as kind (or `t`), queue and id. */
export declare function parseSubject(subject: string): {
    kind: string;
    queue: string;
    id: string;
};
/** The headers this module reads; any object with `get` (nats.js MsgHdrs) will do. */
export interface HeaderReader {
    get(k: string): string;
}
/**
 * Reports whether a stored message (or its event) is a marker, not a
 * record: an empty payload, a KV delete or purge, the server's expiry mark.
 */
export declare function isMarker(data: Uint8Array | undefined, h: HeaderReader | undefined): boolean;
/** A format from a Content-Type header; undefined for an absent or unknown one. */
export declare function formatOf(contentType: string | undefined): Format | undefined;
/** A record's format by its first byte that is not white space: `{` is JSON, anything else msgpack. */
export declare function sniff(data: Uint8Array): Format;
/** Encodes and decodes values in both formats. */
export declare class Codec {
    #private;
    constructor();
    /** Encodes value; throws BadOption for what the format cannot carry as it is. */
    encode(value: unknown, f: Format, what: string): Uint8Array;
    /** Decodes a value in format f. */
    decode(data: Uint8Array, f: Format): unknown;
    /** Decodes a record (a map) by its first byte. */
    record<T>(data: Uint8Array): T;
}
/**
 * The envelope in the key order of strand's Go writer, with zero and empty
 * fields left out (but args), so that both write the same bytes for the same task.
 */
export declare function envelope(e: Envelope): Envelope;
/** A task priority: the lane of its queue it waits in. */
export type Priority = "high" | "normal" | "low";
/** The envelope's priority of a priority option: "high", "low", or "" for normal; throws BadOption for another. */
export declare function checkPriority(p: unknown): "" | "high" | "low";
/** A flow key: one subject token of 1–128 of A–Z a–z 0–9 _ = -. */
export declare function checkKey(key: unknown): string;
/**
 * The cancellation record a canceller writes for the task env of queue
 * (docs/protocol.md, "Cancelling"), in strand's Go key order.
 */
export declare function cancellation(env: Pick<Envelope, "func" | "created" | "meta">, queue: string, finished: number, reason?: string): Outcome;
/**
 * Reads a cancellation record as the protocol says: cancelled, error kind
 * cancelled, no result, whatever it holds (only workers write outcomes).
 */
export declare function asCancelled(rec: Outcome): Outcome;
/**
 * Decodes an outcome record, or a cancellation (kind c: it reads as
 * cancelled), stored on subject (or its event's); the queue comes from the
 * subject when the record lacks it. seq, the stream sequence, is kept as
 * a non-enumerable property.
 */
export declare function readOutcome(codec: Codec, subject: string, data: Uint8Array, seq?: number): Outcome;
/** Milliseconds of a Nats-TTL header: a number of seconds or a Go duration string; NaN if neither. */
export declare function ttlMs(s: string | undefined): number;
/** A duration in ms as Go's time.Duration prints it (336h0m0s, 1m30s, 1.5s, 500ms), as strand's Go writer sends Nats-TTL. */
export declare function goDuration(ms: number): string;
/** TTL bounds: the server's minimum per-message TTL, and the longest result TTL a worker keeps. */
export declare const MIN_TTL_MS = 1000;
export declare const MAX_RESULT_TTL_MS: number;
/** A result TTL from the wire bounded as a worker bounds it; 0 or less means def. */
export declare function clampResultTTL(ms: number | undefined, def: number): number;
/**
 * The Nats-Schedule header of a task delayed until ms (unix ms): `@at` and
 * the time in UTC, whole seconds, rounded up, so that it never runs early.
 */
export declare function scheduleAt(ms: number): string;
/** The time (unix ms) of an `@at` Nats-Schedule header; undefined if it is not one. */
export declare function parseScheduleAt(header: string | undefined): number | undefined;
/** name if it can name a schedule (1–100 of A–Z a–z 0–9 _ = -); else BadOption. */
export declare function checkScheduleName(name: unknown): string;
/**
 * The Nats-Schedule header of a named schedule's spec, as strand's Go
 * writer makes it, and for `@every` its interval in ms: `@every` a Go
 * duration of at least 1 s (no time zone), a 5-field cron expression with
 * `0` seconds put first, a 6-field one as it is, or a macro (@hourly,
 * @daily, @weekly, @monthly, @yearly). The server checks the fields.
 */
export declare function schedulePattern(spec: string, tz?: string): {
    pattern: string;
    everyMs?: number;
};
