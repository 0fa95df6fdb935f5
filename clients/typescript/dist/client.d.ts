import { type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Handle } from "./handle.js";
import { Names, type Envelope, type Format, type Priority, type Outcome, type State, type Status } from "./wire.js";
/** The default queue. */
export declare const DEFAULT_QUEUE = "default";
/** The default task TTL (the longest a task waits in its queue): 14 days, in ms. */
export declare const DEFAULT_TASK_TTL_MS: number;
/** A canceller's result TTL for a task that names none: 24 h, in ms (the workers' default). */
export declare const DEFAULT_RESULT_TTL_MS: number;
/** Options of connect: the NATS transport's own (user, pass, token, tls, name, …) and strand's prefix. */
export interface ConnectOptions extends Partial<Omit<NodeConnectionOptions, "servers">> {
    /** The deployment's name prefix (default `strand`): streams STRAND_TASKS, bucket STRAND, subjects strand.>. */
    prefix?: string;
}
/** Options of one submission. Times are in milliseconds. */
export interface SubmitOptions {
    /** The queue (default `default`). */
    queue?: string;
    /** Your own id instead of a new UUIDv7: an idempotency key, taken while the task is queued or running and while its outcome is kept. */
    id?: string;
    /** Keyword arguments, for a handler that takes them (Go: a trailing struct parameter). */
    kwargs?: Record<string, unknown>;
    /** The handler's time limit in ms; 0 = none. */
    timeout?: number;
    /** Attempts before the task is dead; 0 = the worker's default. */
    maxAttempts?: number;
    /** How long the state and outcome are kept after the task ends, in ms (1 s to 365 days; default: the worker's, 24 h). */
    resultTtl?: number;
    /** Free string metadata, copied to the task's records and logs. */
    meta?: Record<string, string>;
    /** Send a JSON envelope instead of msgpack: its records and result come back as JSON. */
    json?: boolean;
    /** The longest the task may wait in its queue, in ms (at least 1 s; default 14 days); a task not taken by then is removed unrun. */
    taskTtl?: number;
    /**
     * Run the task at this time instead of now: until then its status is
     * `scheduled` and the server keeps it (no strand process needs to be
     * alive). A time not in the future runs it at once; one further than the
     * task TTL is refused. Not with `after`.
     */
    at?: Date;
    /** Run the task after this delay in ms, as `at: new Date(Date.now() + after)`; ≤ 0 runs it at once. Not with `at`. */
    after?: number;
    /**
     * The lane of its queue the task waits in: workers take `high` tasks
     * first, `low` ones once the queue holds no normal task (default `normal`).
     */
    priority?: Priority;
    /** The task's flow key: one subject token of 1–128 of A–Z a–z 0–9 _ = - (what `uniqueFor` and `debounce` compare). */
    key?: string;
    /**
     * Make `key` unique in the queue for a window in ms (1 s to the result
     * TTL) or `"finished"` (until the task holding it ends): while a task
     * submitted with the key holds it, submit rejects with DuplicateError
     * whose handle is that task; of racing submits, one wins. Needs `key`.
     */
    uniqueFor?: number | "finished";
    /**
     * Debounce window in ms (1 s to the result TTL): the task starts no
     * sooner, and a later submit with the key replaces it while it is still
     * pending (it ends cancelled): the last submit wins. Needs `key`; not with `uniqueFor`.
     */
    debounce?: number;
}
/** Options of a named schedule: submit's for its tasks (not id, at, after), and the time zone of a cron expression. */
export interface ScheduleOptions extends Omit<SubmitOptions, "id" | "at" | "after"> {
    /** The IANA time zone of a cron expression (`Europe/Paris`; default UTC); not for `@every`. */
    tz?: string;
}
/** A named schedule as the server keeps it. */
export interface ScheduleInfo {
    name: string;
    queue: string;
    func: string;
    /** The spec as it was given: `@every 30s` or a cron expression. */
    spec: string;
    /** The time zone of a cron expression ("" = UTC). */
    tz: string;
    paused: boolean;
    /** When it was created, replaced or resumed. */
    created?: Date;
    /** Its last firing that a worker queued, and that firing's task id (open it with `client.open`); undefined before the first. */
    lastRun?: Date;
    lastTask?: string;
    /** Its next firing when known (an `@every` schedule's, or as the server announced it at the last firing); undefined while paused. */
    nextRun?: Date;
    args: unknown[];
    kwargs?: Record<string, unknown>;
    format: Format;
}
/** Options of open. */
export interface OpenOptions {
    /** The task's queue, when known: it saves a lookup. */
    queue?: string;
}
/** A task's stored message as read: its subject, sequence, time, headers and payload. */
export interface Stored {
    subject: string;
    seq: number;
    time: number;
    data: Uint8Array;
    header?: {
        get(k: string): string;
    };
}
/** What the server holds of a task, read in the protocol's order. */
export interface Lookup {
    queue: string;
    outcome?: Outcome;
    task?: Envelope;
    state?: State;
    format?: Format;
    /** Unix ms when the queued task expires unrun (0 if it never does). */
    expires?: number;
    /** A delayed task (status scheduled): task is its schedule's envelope. */
    scheduled?: boolean;
    /** Unix ms when a delayed task is to run. */
    runAt?: number;
}
/** The typed submitter `Client.task` returns: call it with the task's args. */
export interface TaskFunction<A extends unknown[], R> {
    (...args: A): Promise<Handle<R>>;
    /** Submits with options of this call (merged over the task's). */
    submit(args: A, opts?: SubmitOptions): Promise<Handle<R>>;
    /** The function name. */
    readonly func: string;
}
/**
 * Connects to NATS and returns a client of strand's deployment `prefix`.
 * servers: a URL or a list (default nats://127.0.0.1:4222). The connection
 * reconnects without end unless `maxReconnectAttempts` says otherwise.
 */
export declare function connect(servers?: string | string[], opts?: ConnectOptions): Promise<Client>;
/**
 * A producer of strand tasks on one NATS connection: submit, open and
 * typed task submitters. Close it when done.
 */
export declare class Client {
    #private;
    /** The NATS connection. */
    readonly nc: NatsConnection;
    /** The deployment's names. */
    readonly names: Names;
    /** Wraps an open connection; `connect` is the usual way. */
    constructor(nc: NatsConnection, names?: Names);
    /** Whether close was called. */
    get closed(): boolean;
    /**
     * Submits func(...args) and returns a handle to the task at once. Throws
     * DuplicateError (with a handle to the task that holds the id) if the id
     * is taken, BadOption for a bad id, queue, option or value, and
     * PayloadTooLarge for a task the server would refuse.
     */
    submit<R = unknown>(func: string, args?: unknown[], opts?: SubmitOptions): Promise<Handle<R>>;
    /**
     * Creates the schedule `name`, or replaces the one of that name (in any
     * queue): the server fires func(...args) as spec says — `@every DURATION`
     * (at least 1 s), a 5-field cron expression (minute hour day-of-month
     * month day-of-week) or a 6-field one (second first), or @hourly, @daily,
     * @weekly, @monthly, @yearly. Each firing is one task, of id
     * `name-<unix second of the firing>`. A bad name, spec or time zone throws
     * BadOption, and nothing is stored.
     */
    putSchedule(name: string, spec: string, func: string, args?: unknown[], opts?: ScheduleOptions): Promise<void>;
    /** Stops the schedule's firings until resumeSchedule (a firing made already still runs); NotFoundError if there is none. */
    pauseSchedule(name: string): Promise<void>;
    /** Restarts a paused schedule's firings from now on (the firings it missed while paused do not run); NotFoundError if there is none. */
    resumeSchedule(name: string): Promise<void>;
    /** The named schedules, by name. */
    schedules(): Promise<ScheduleInfo[]>;
    /** The schedule `name`; NotFoundError if there is none. */
    getSchedule(name: string): Promise<ScheduleInfo>;
    /** Removes the schedule and a firing of it not queued yet (its earlier firings' tasks are not touched); NotFoundError if there is none. */
    deleteSchedule(name: string): Promise<void>;
    /**
     * A handle to a task that exists already, perhaps submitted by another
     * process. Pass the queue when it is known: it saves a lookup.
     */
    open<R = unknown>(id: string, opts?: OpenOptions): Handle<R>;
    /**
     * A typed submitter of the function `func`: `const add = c.task<[number,
     * number], number>("add"); const h = await add(2, 3); await h.result()`
     * (a number). defaults are options of every submission.
     */
    task<A extends unknown[] = unknown[], R = unknown>(func: string, defaults?: SubmitOptions): TaskFunction<A, R>;
    /** Closes the connection once what is pending is sent; calls waiting on it reject with ClosedError. */
    close(): Promise<void>;
}
/** A UUIDv7 (RFC 9562): 48 bits of unix ms, then random bits; ids sort by time, as strand's Go writer makes them. */
export declare function uuidv7(): string;
export type { Status };
