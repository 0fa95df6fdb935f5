// The client: a connection to NATS and strand's wire on it. Submitting,
// reading and cancelling follow docs/protocol.md step by step; Handle
// (handle.ts) is what callers hold.
import { connect as natsConnect, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError, } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { randomUUID } from "node:crypto";
import { BadOption, DuplicateError, ERR_CODE_SUBJECT_FULL, FinishedError, NotFoundError, PayloadTooLarge, StrandError, transient, wireError } from "./errors.js";
import { Handle } from "./handle.js";
import { cancellation, checkID, checkKey, checkPriority, checkQueue, clampResultTTL, Codec, CONTENT_TYPE, envelope, formatOf, goDuration, isMarker, MAX_RESULT_TTL_MS, MIN_TTL_MS, Names, parseSubject, readOutcome, sniff, checkScheduleName, parseScheduleAt, scheduleAt, schedulePattern, ttlMs, VERSION, } from "./wire.js";
/** The default queue. */
export const DEFAULT_QUEUE = "default";
/** The default task TTL (the longest a task waits in its queue): 14 days, in ms. */
export const DEFAULT_TASK_TTL_MS = 14 * 24 * 3600 * 1000;
/** A canceller's result TTL for a task that names none: 24 h, in ms (the workers' default). */
export const DEFAULT_RESULT_TTL_MS = 24 * 3600 * 1000;
// The room strand keeps in max_payload for the subject and headers.
const HEADROOM = 512;
// The server's answer to a second publish on a task's subject: the
// stream holds one message per subject (DiscardNewPerSubject).
const ERR_SUBJECT_FULL = ERR_CODE_SUBJECT_FULL;
// A create-only write whose subject holds a message.
const ERR_WRONG_LAST_SEQUENCE = 10071;
// How long a submit sends a task again whose publish went unanswered.
const TE = new TextEncoder();
const TD = new TextDecoder();
const SUBMIT_RETRY_MS = 30_000;
const SUBMIT_OPTIONS = new Set(["queue", "id", "kwargs", "timeout", "maxAttempts", "resultTtl", "meta", "json", "taskTtl", "at", "after", "priority", "key", "uniqueFor", "debounce"]);
/**
 * Connects to NATS and returns a client of strand's deployment `prefix`.
 * servers: a URL or a list (default nats://127.0.0.1:4222). The connection
 * reconnects without end unless `maxReconnectAttempts` says otherwise.
 */
export async function connect(servers = "nats://127.0.0.1:4222", opts = {}) {
    const { prefix = "strand", ...natsOpts } = opts;
    const names = new Names(prefix);
    const nc = await natsConnect({ maxReconnectAttempts: -1, reconnectTimeWait: 250, ...natsOpts, servers });
    return new Client(nc, names);
}
/**
 * A producer of strand tasks on one NATS connection: submit, open and
 * typed task submitters. Close it when done.
 */
export class Client {
    /** The NATS connection. */
    nc;
    /** The deployment's names. */
    names;
    /** @internal */
    codec = new Codec();
    /** @internal */
    js;
    #jsm;
    #kv;
    #reconnects = new Set();
    #settling = new Set();
    #closed = false;
    /** Wraps an open connection; `connect` is the usual way. */
    constructor(nc, names = new Names()) {
        this.nc = nc;
        this.names = names;
        this.js = jetstream(nc);
        this.#watchStatus().catch(() => { }); // ends with the connection
        // The bucket's stream electing a leader may have lost events too: its
        // old leader may have stored outcomes it never republished.
        // A user that may not subscribe to it gets the refusal here, once:
        // it goes without, and still reads again after reconnects.
        nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${names.kvStream}`, {
            callback: (err) => {
                if (!err)
                    this.#resync();
            },
        });
    }
    // Events are lost across a reconnect and a leader election of the
    // bucket's stream, and a read right after may be answered by a replica
    // that lags: waiters read again then, and 1, 3 and 10 s later
    // (docs/protocol.md, "Waiting for a result").
    async #watchStatus() {
        for await (const s of this.nc.status()) {
            if (s.type === "reconnect")
                this.#resync();
        }
    }
    #resync() {
        if (this.closed)
            return;
        const fire = () => {
            for (const fn of [...this.#reconnects])
                fn();
        };
        fire();
        for (const ms of [1000, 3000, 10000]) {
            const t = setTimeout(() => {
                this.#settling.delete(t);
                if (!this.closed)
                    fire();
            }, ms);
            t.unref?.();
            this.#settling.add(t);
        }
    }
    /** @internal Calls fn when events may have been lost (a reconnect, a leader election) until the returned function is called. */
    onReconnect(fn) {
        this.#reconnects.add(fn);
        return () => this.#reconnects.delete(fn);
    }
    /** Whether close was called. */
    get closed() {
        return this.#closed || this.nc.isClosed();
    }
    /**
     * Submits func(...args) and returns a handle to the task at once. Throws
     * DuplicateError (with a handle to the task that holds the id) if the id
     * is taken, BadOption for a bad id, queue, option or value, and
     * PayloadTooLarge for a task the server would refuse.
     */
    async submit(func, args = [], opts = {}) {
        const { env, format, own, taskTtl, runAt, uniqueTtl, debounceMs } = this.#envelope(func, args, opts);
        const lane = env.priority ?? "";
        const queue = env.queue;
        const handle = new Handle(this, env.id, queue, func);
        const payload = this.codec.encode(envelope(env), format, `submit ${func}`);
        const max = (this.nc.info?.max_payload ?? 1024 * 1024) - HEADROOM;
        if (payload.length > max) {
            throw new PayloadTooLarge(`submit ${func}: the task is ${payload.length} bytes, over the ${max} the server takes`);
        }
        const key = env.key ?? "";
        if (env.unique) {
            const holder = await this.#claimUnique(queue, key, env.id, uniqueTtl, env.unique === "finished");
            if (holder)
                throw new DuplicateError(holder, new Handle(this, holder, queue), `key ${key} is held by it`);
            try {
                return await this.#put(handle, func, format, payload, own, taskTtl, runAt, lane);
            }
            catch (err) {
                await this.releaseUnique(queue, key, env.id).catch(() => undefined);
                throw err;
            }
        }
        const h = await this.#put(handle, func, format, payload, own, taskTtl, runAt, lane);
        if (debounceMs) {
            const replaced = await this.#debounce(queue, key, env.id, debounceMs);
            if (replaced && replaced !== env.id) {
                try {
                    await this.cancel(queue, replaced, `replaced by ${env.id} (debounce ${key})`, true);
                }
                catch (err) {
                    if (!(err instanceof FinishedError) && !(err instanceof NotFoundError))
                        throw err;
                }
            }
        }
        return h;
    }
    // #put queues (or delays) a task whose envelope is made: the id checks,
    // then the publish to its lane's subject.
    async #put(handle, func, format, payload, own, taskTtl, runAt, lane) {
        const queue = handle.queue;
        const env = { id: handle.id };
        // An id of your own stays taken while its outcome is kept: the server
        // only refuses it while the task is queued or running.
        if (own) {
            const o = await this.outcome(queue, env.id);
            if (o)
                throw new DuplicateError(env.id, handle, o.status);
            // A normal publish is not refused while the id waits in a priority
            // lane (a lane's publish is, by its headers).
            if (runAt === undefined && !lane) {
                for (const other of ["high", "low"]) {
                    if (await this.get(this.names.tasksStream, this.names.task(queue, env.id, other))) {
                        throw new DuplicateError(env.id, handle, "queued in another lane");
                    }
                }
            }
            // ... and while a delayed task holds it.
            if (runAt === undefined && (await this.schedulesReady())) {
                const n = this.names;
                for (const kind of ["at", "due"]) {
                    if (await this.get(n.schedulesStream, n.sched(kind, queue, env.id)))
                        throw new DuplicateError(env.id, handle, "scheduled");
                }
            }
        }
        const h = headers();
        h.set("Content-Type", CONTENT_TYPE[format]);
        h.set("Strand-Func", func);
        if (own)
            h.set("Strand-Own-Id", "1");
        if (runAt !== undefined) {
            await this.#submitDelayed(handle, func, payload, h, taskTtl, own, runAt);
            // Its time only on success: a DuplicateError's handle is another task.
            return new Handle(this, env.id, queue, func, parseScheduleAt(scheduleAt(runAt)));
        }
        h.set("Nats-TTL", goDuration(taskTtl));
        if (lane) {
            // Refused while a task with this id is queued in any queue or lane.
            h.set("Nats-Expected-Last-Subject-Sequence", "0");
            h.set("Nats-Expected-Last-Subject-Sequence-Subject", this.names.idSubjects(env.id));
        }
        await this.#publishTask(handle, func, payload, h, lane);
        return handle;
    }
    #schedulesOk = false;
    /**
     * @internal Whether the deployment keeps delayed tasks: its schedules
     * stream exists (a strand process made it) with message schedules.
     */
    async schedulesReady() {
        if (this.#schedulesOk)
            return true;
        const jsm = await this.#manager();
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                const info = await jsm.streams.info(this.names.schedulesStream);
                this.#schedulesOk = !!info.config.allow_msg_schedules;
                return this.#schedulesOk;
            }
            catch (err) {
                if (err instanceof JetStreamApiError && err.code === 10059)
                    return false; // stream not found
                if (!transient(err) || Date.now() + pause > deadline || this.closed) {
                    throw wireError(`read stream ${this.names.schedulesStream}`, err, this.names.schedulesStream);
                }
            }
            await new Promise((r) => setTimeout(r, pause));
        }
    }
    // #submitDelayed publishes a delayed task as strand's Go writer does: its
    // envelope, create-only, as an @at schedule whose firing the server
    // stores on the task's due subject at its time (docs/protocol.md,
    // "Delaying a task").
    async #submitDelayed(handle, func, payload, h, taskTtl, own, runAt) {
        const n = this.names;
        const queue = handle.queue;
        if (!(await this.schedulesReady())) {
            throw new StrandError("unavailable", `submit ${func}: delayed tasks are unavailable: the stream ${n.schedulesStream} is missing or keeps no message schedules ` +
                `(start a strand worker or strand dev on nats-server 2.14 or later)`);
        }
        const reads = [this.get(n.tasksStream, n.task(queue, handle.id)), this.get(n.schedulesStream, n.sched("due", queue, handle.id))];
        if (own)
            reads.push(this.record(n.key("r", queue, handle.id)), this.record(n.key("c", queue, handle.id)));
        if ((await Promise.all(reads)).some((r) => r !== null))
            throw new DuplicateError(handle.id, handle, "queued or running");
        const ttl = goDuration(taskTtl);
        const schedule = scheduleAt(runAt);
        h.set("Nats-Schedule", schedule);
        h.set("Nats-Schedule-Target", n.sched("due", queue, handle.id));
        h.set("Nats-Schedule-TTL", ttl);
        h.set("Strand-Task-TTL", ttl);
        h.set("Nats-Expected-Last-Subject-Sequence", "0");
        const subject = n.sched("at", queue, handle.id);
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        let retried = false;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                await this.js.publish(subject, payload, { headers: h });
                return;
            }
            catch (err) {
                if (err instanceof JetStreamApiError && err.code === ERR_WRONG_LAST_SEQUENCE) {
                    if (retried) {
                        const last = await this.get(n.schedulesStream, subject);
                        if (last && sameBytes(last.data, payload) && last.header?.get("Nats-Schedule") === schedule)
                            return; // stored after all
                    }
                    throw new DuplicateError(handle.id, handle, "scheduled");
                }
                if (!transient(err) || Date.now() + pause > deadline || this.closed) {
                    throw wireError(`submit ${func}`, err, n.schedulesStream);
                }
            }
            retried = true;
            await new Promise((r) => setTimeout(r, pause));
        }
    }
    // #publishTask publishes a task as a JetStream publish (a request: a core
    // publish to a taken subject is dropped silently). A publish whose fate
    // is unknown (no answer: the server restarts, a stream elects a leader)
    // is sent again for up to SUBMIT_RETRY_MS; if the subject then holds a
    // task, it is this one if it holds its bytes (an earlier try was stored
    // after all), else the id is taken.
    /**
     * Creates the schedule `name`, or replaces the one of that name (in any
     * queue): the server fires func(...args) as spec says — `@every DURATION`
     * (at least 1 s), a 5-field cron expression (minute hour day-of-month
     * month day-of-week) or a 6-field one (second first), or @hourly, @daily,
     * @weekly, @monthly, @yearly. Each firing is one task, of id
     * `name-<unix second of the firing>`. A bad name, spec or time zone throws
     * BadOption, and nothing is stored.
     */
    async putSchedule(name, spec, func, args = [], opts = {}) {
        checkScheduleName(name);
        if (opts === null || typeof opts !== "object")
            throw new BadOption(`schedule ${name}: options must be an object`);
        const { tz = "", ...rest } = opts;
        if (typeof tz !== "string")
            throw new BadOption(`schedule ${name}: tz must be an IANA time zone name`);
        for (const k of ["id", "at", "after"]) {
            if (k in rest)
                throw new BadOption(`schedule ${name}: ${k} is for tasks; a firing's id is ${name}-<unix second>`);
        }
        const { pattern } = schedulePattern(spec, tz);
        const { env, format, taskTtl } = this.#envelope(func, args, { ...rest, id: name });
        delete env.created; // each firing sets its own
        const payload = this.codec.encode(envelope(env), format, `schedule ${name}`);
        const max = (this.nc.info?.max_payload ?? 1024 * 1024) - HEADROOM;
        if (payload.length > max)
            throw new PayloadTooLarge(`schedule ${name}: the task is ${payload.length} bytes, over the ${max} the server takes`);
        const n = this.names;
        if (!(await this.schedulesReady())) {
            throw new StrandError("unavailable", `schedule ${name}: schedules are unavailable: the stream ${n.schedulesStream} is missing or keeps no message schedules`);
        }
        const old = await this.get(n.schedulesStream, n.sched("cron", "*", name));
        const queue = env.queue;
        const h = this.#scheduleHeaders(queue, name, func, format, spec, tz, pattern, taskTtl, false);
        await this.#publishSchedule(name, n.sched("cron", queue, name), payload, h);
        if (old && parseSubject(old.subject).queue !== queue)
            await this.#purgeSchedule(parseSubject(old.subject).queue, name);
    }
    // #scheduleHeaders are a named schedule's headers, as strand's Go writer
    // sets them; paused: without Nats-Schedule*, so the server drops it.
    #scheduleHeaders(queue, name, func, format, spec, tz, pattern, taskTtl, paused) {
        const ttl = goDuration(taskTtl);
        const h = headers();
        h.set("Content-Type", CONTENT_TYPE[format]);
        h.set("Strand-Func", func);
        h.set("Strand-Schedule", spec);
        if (tz)
            h.set("Strand-Schedule-TZ", tz);
        h.set("Strand-Task-TTL", ttl);
        if (paused) {
            h.set("Strand-Paused", "1");
            h.set("Nats-Rollup", "sub");
            return h;
        }
        h.set("Nats-Schedule", pattern);
        if (tz)
            h.set("Nats-Schedule-Time-Zone", tz);
        h.set("Nats-Schedule-Target", this.names.sched("tick", queue, name));
        h.set("Nats-Schedule-TTL", ttl);
        return h;
    }
    async #publishSchedule(name, subject, payload, h) {
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                await this.js.publish(subject, payload, { headers: h });
                return;
            }
            catch (err) {
                // A pattern the server cannot fire, an unknown time zone.
                if (err instanceof JetStreamApiError && (err.code === 10189 || err.code === 10223))
                    throw new BadOption(`schedule ${name}: ${err.message}`, { cause: err });
                if (err instanceof JetStreamApiError && err.code === ERR_WRONG_LAST_SEQUENCE)
                    throw new StrandError("conflict", `schedule ${name} changed meanwhile; try again`, { cause: err });
                if (!transient(err) || Date.now() + pause > deadline || this.closed)
                    throw wireError(`schedule ${name}`, err, this.names.schedulesStream);
            }
            await new Promise((r) => setTimeout(r, pause));
        }
    }
    /** Stops the schedule's firings until resumeSchedule (a firing made already still runs); NotFoundError if there is none. */
    pauseSchedule(name) {
        return this.#pauseSchedule(name, true);
    }
    /** Restarts a paused schedule's firings from now on (the firings it missed while paused do not run); NotFoundError if there is none. */
    resumeSchedule(name) {
        return this.#pauseSchedule(name, false);
    }
    async #pauseSchedule(name, paused) {
        checkScheduleName(name);
        const n = this.names;
        const rec = (await this.schedulesReady()) ? await this.get(n.schedulesStream, n.sched("cron", "*", name)) : null;
        if (!rec)
            throw new NotFoundError(name, `schedule ${name} not found`);
        const hd = rec.header;
        if (!!hd?.get("Strand-Paused") === paused)
            return;
        const spec = hd?.get("Strand-Schedule") ?? "";
        const tz = hd?.get("Strand-Schedule-TZ") ?? "";
        const { pattern } = schedulePattern(spec, tz);
        let ttl = ttlMs(hd?.get("Strand-Task-TTL"));
        if (!Number.isFinite(ttl) || ttl < MIN_TTL_MS)
            ttl = DEFAULT_TASK_TTL_MS;
        const format = formatOf(hd?.get("Content-Type")) ?? sniff(rec.data);
        const h = this.#scheduleHeaders(parseSubject(rec.subject).queue, name, hd?.get("Strand-Func") ?? "", format, spec, tz, pattern, ttl, paused);
        // Only over the version read: a replace meanwhile stands.
        h.set("Nats-Expected-Last-Subject-Sequence", String(rec.seq));
        await this.#publishSchedule(name, rec.subject, rec.data, h);
    }
    /** The named schedules, by name. */
    async schedules() {
        if (!(await this.schedulesReady()))
            return [];
        const n = this.names;
        const jsm = await this.#manager();
        let subjects;
        try {
            const info = await jsm.streams.info(n.schedulesStream, { subjects_filter: n.sched("cron", "*", "*") });
            subjects = Object.keys(info.state.subjects ?? {});
        }
        catch (err) {
            throw wireError("list schedules", err, n.schedulesStream);
        }
        const recs = await Promise.all(subjects.map((subj) => this.get(n.schedulesStream, subj)));
        const out = await Promise.all(recs.filter((r) => r !== null).map((r) => this.#readSchedule(r)));
        return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    /** The schedule `name`; NotFoundError if there is none. */
    async getSchedule(name) {
        checkScheduleName(name);
        const rec = (await this.schedulesReady()) ? await this.get(this.names.schedulesStream, this.names.sched("cron", "*", name)) : null;
        if (!rec)
            throw new NotFoundError(name, `schedule ${name} not found`);
        return this.#readSchedule(rec);
    }
    /** Removes the schedule and a firing of it not queued yet (its earlier firings' tasks are not touched); NotFoundError if there is none. */
    async deleteSchedule(name) {
        checkScheduleName(name);
        const rec = (await this.schedulesReady()) ? await this.get(this.names.schedulesStream, this.names.sched("cron", "*", name)) : null;
        if (!rec)
            throw new NotFoundError(name, `schedule ${name} not found`);
        await this.#purgeSchedule(parseSubject(rec.subject).queue, name);
    }
    async #purgeSchedule(queue, name) {
        const jsm = await this.#manager();
        const n = this.names;
        for (const kind of ["cron", "tick", "last"]) {
            try {
                await jsm.streams.purge(n.schedulesStream, { filter: n.sched(kind, queue, name) });
            }
            catch (err) {
                throw wireError(`delete schedule ${name}`, err, n.schedulesStream);
            }
        }
    }
    async #readSchedule(rec) {
        const n = this.names;
        const { queue, id: name } = parseSubject(rec.subject);
        const h = rec.header;
        const format = formatOf(h?.get("Content-Type")) ?? sniff(rec.data);
        let env = {};
        try {
            env = this.codec.decode(rec.data, format);
        }
        catch {
            env = {};
        }
        const spec = h?.get("Strand-Schedule") ?? "";
        const tz = h?.get("Strand-Schedule-TZ") ?? "";
        const paused = !!h?.get("Strand-Paused");
        const last = await this.get(n.schedulesStream, n.sched("last", queue, name));
        let lr = {};
        if (last) {
            try {
                lr = this.codec.record(last.data);
            }
            catch {
                lr = {};
            }
        }
        const info = { name, queue, func: h?.get("Strand-Func") || env.func || "", spec, tz, paused, created: new Date(rec.time), args: env.args ?? [], format };
        if (env.kwargs)
            info.kwargs = env.kwargs;
        if (lr.fired) {
            info.lastRun = new Date(Number(lr.fired));
            info.lastTask = lr.task;
        }
        if (!paused) {
            let every;
            try {
                every = schedulePattern(spec, tz).everyMs;
            }
            catch {
                every = undefined;
            }
            const now = Date.now();
            if (every) {
                let anchor = rec.time;
                if (lr.next && Number(lr.next) > rec.time)
                    anchor = Number(lr.next) - every;
                const k = Math.max(1, Math.floor((now - anchor) / every) + 1);
                info.nextRun = new Date(anchor + k * every);
            }
            else if (lr.next && Number(lr.next) > now) {
                info.nextRun = new Date(Number(lr.next));
            }
        }
        return info;
    }
    async #publishTask(handle, func, payload, h, lane = "") {
        const subject = this.names.task(handle.queue, handle.id, lane);
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        let retried = false;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                await this.js.publish(subject, payload, { headers: h });
                return;
            }
            catch (err) {
                if (err instanceof JetStreamApiError && (err.code === ERR_SUBJECT_FULL || (lane && err.code === ERR_WRONG_LAST_SEQUENCE))) {
                    if (retried && (await this.#holds(subject, payload)))
                        return;
                    throw new DuplicateError(handle.id, handle, "queued or running");
                }
                if (!transient(err) || Date.now() + pause > deadline || this.closed) {
                    throw wireError(`submit ${func}`, err, this.names.tasksStream);
                }
            }
            retried = true;
            await new Promise((r) => setTimeout(r, pause));
        }
    }
    async #holds(subject, payload) {
        try {
            const t = await this.get(this.names.tasksStream, subject);
            return !!t && sameBytes(t.data, payload);
        }
        catch {
            return false;
        }
    }
    #envelope(func, args, opts) {
        if (typeof func !== "string" || func === "")
            throw new BadOption(`bad function name ${JSON.stringify(func)}`);
        if (!Array.isArray(args))
            throw new BadOption(`submit ${func}: args must be an array, got ${typeof args}`);
        if (opts === null || typeof opts !== "object")
            throw new BadOption(`submit ${func}: options must be an object`);
        for (const k of Object.keys(opts)) {
            if (!SUBMIT_OPTIONS.has(k))
                throw new BadOption(`submit ${func}: unknown option ${JSON.stringify(k)}`);
        }
        const own = opts.id !== undefined && opts.id !== null;
        const env = {
            v: VERSION,
            id: own ? checkID(opts.id) : uuidv7(),
            func,
            args,
            queue: checkQueue(opts.queue ?? DEFAULT_QUEUE),
            created: Date.now(),
        };
        if (opts.kwargs !== undefined && opts.kwargs !== null) {
            if (typeof opts.kwargs !== "object" || Array.isArray(opts.kwargs) || opts.kwargs instanceof Map) {
                throw new BadOption(`submit ${func}: kwargs must be a plain object of names to values`);
            }
            env.kwargs = opts.kwargs;
        }
        env.timeout_ms = wholeMs(func, "timeout", opts.timeout, 0);
        env.max_attempts = wholeMs(func, "maxAttempts", opts.maxAttempts, 0);
        if (opts.resultTtl !== undefined) {
            const ttl = wholeMs(func, "resultTtl", opts.resultTtl, MIN_TTL_MS);
            if (ttl > MAX_RESULT_TTL_MS)
                throw new BadOption(`submit ${func}: resultTtl ${ttl} ms is over the maximum of 365 days`);
            env.result_ttl_ms = ttl;
        }
        const taskTtl = opts.taskTtl === undefined ? DEFAULT_TASK_TTL_MS : wholeMs(func, "taskTtl", opts.taskTtl, MIN_TTL_MS);
        if (opts.meta !== undefined && opts.meta !== null) {
            if (typeof opts.meta !== "object" || Array.isArray(opts.meta))
                throw new BadOption(`submit ${func}: meta must be an object of strings`);
            for (const [k, v] of Object.entries(opts.meta)) {
                if (typeof v !== "string")
                    throw new BadOption(`submit ${func}: meta ${JSON.stringify(k)} is a ${typeof v}, not a string`);
            }
            env.meta = opts.meta;
        }
        const prio = checkPriority(opts.priority);
        if (prio)
            env.priority = prio;
        if (opts.key !== undefined && opts.key !== null)
            env.key = checkKey(opts.key);
        const resultTtl = env.result_ttl_ms || DEFAULT_RESULT_TTL_MS;
        let uniqueTtl = 0;
        let debounceMs = 0;
        if (opts.uniqueFor !== undefined && opts.debounce !== undefined)
            throw new BadOption(`submit ${func}: uniqueFor and debounce exclude each other`);
        if ((opts.uniqueFor !== undefined || opts.debounce !== undefined) && !env.key)
            throw new BadOption(`submit ${func}: uniqueFor and debounce need a key`);
        if (opts.uniqueFor === "finished") {
            env.unique = "finished";
            uniqueTtl = taskTtl + resultTtl; // released by the worker when the task ends
        }
        else if (opts.uniqueFor !== undefined) {
            if (typeof opts.uniqueFor !== "number" || !Number.isFinite(opts.uniqueFor) || opts.uniqueFor < MIN_TTL_MS || opts.uniqueFor > resultTtl) {
                throw new BadOption(`submit ${func}: uniqueFor wants "finished" or a window of 1000 ms to the result TTL (${resultTtl} ms), got ${JSON.stringify(opts.uniqueFor)}`);
            }
            env.unique = "for";
            uniqueTtl = opts.uniqueFor;
        }
        if (opts.debounce !== undefined) {
            if (typeof opts.debounce !== "number" || !Number.isFinite(opts.debounce) || opts.debounce < MIN_TTL_MS || opts.debounce > resultTtl) {
                throw new BadOption(`submit ${func}: debounce wants a window of 1000 ms to the result TTL (${resultTtl} ms), got ${JSON.stringify(opts.debounce)}`);
            }
            debounceMs = Math.round(opts.debounce);
            env.not_before = env.created + debounceMs;
        }
        const format = opts.json ? "json" : "msgpack";
        let runAt;
        if (opts.at !== undefined && opts.after !== undefined)
            throw new BadOption(`submit ${func}: at and after: give one of them, not both`);
        if (opts.at !== undefined) {
            if (!(opts.at instanceof Date) || !Number.isFinite(opts.at.getTime()))
                throw new BadOption(`submit ${func}: at must be a valid Date, got ${String(opts.at)}`);
            runAt = opts.at.getTime();
        }
        else if (opts.after !== undefined) {
            if (typeof opts.after !== "number" || !Number.isFinite(opts.after))
                throw new BadOption(`submit ${func}: after must be a number of ms, got ${String(opts.after)}`);
            runAt = Date.now() + opts.after;
        }
        if (runAt !== undefined) {
            const delay = runAt - Date.now();
            if (delay > (opts.taskTtl === undefined ? DEFAULT_TASK_TTL_MS : taskTtl)) {
                throw new BadOption(`submit ${func}: a delay of ${Math.round(delay / 1000)} s is beyond the task TTL of ${Math.round(taskTtl / 1000)} s (taskTtl)`);
            }
            if (delay <= 0)
                runAt = undefined; // a time not in the future: queued at once
        }
        return { env, format, own, taskTtl, runAt, uniqueTtl, debounceMs };
    }
    /**
     * A handle to a task that exists already, perhaps submitted by another
     * process. Pass the queue when it is known: it saves a lookup.
     */
    open(id, opts = {}) {
        checkID(id);
        const queue = opts.queue === undefined ? undefined : checkQueue(opts.queue);
        return new Handle(this, id, queue);
    }
    /**
     * A typed submitter of the function `func`: `const add = c.task<[number,
     * number], number>("add"); const h = await add(2, 3); await h.result()`
     * (a number). defaults are options of every submission.
     */
    task(func, defaults = {}) {
        if (typeof func !== "string" || func === "")
            throw new BadOption(`bad function name ${JSON.stringify(func)}`);
        const fn = ((...args) => this.submit(func, args, defaults));
        fn.submit = (args, opts = {}) => this.submit(func, args, { ...defaults, ...opts });
        Object.defineProperty(fn, "func", { value: func });
        return fn;
    }
    /** Closes the connection once what is pending is sent; calls waiting on it reject with ClosedError. */
    async close() {
        if (this.#closed)
            return;
        this.#closed = true;
        for (const t of this.#settling)
            clearTimeout(t);
        this.#settling.clear();
        if (!this.nc.isClosed())
            await this.nc.drain();
    }
    // --- the wire (internal) ---
    #manager() {
        this.#jsm ??= jetstreamManager(this.nc, { checkAPI: false });
        return this.#jsm;
    }
    #bucket() {
        this.#kv ??= new Kvm(this.js).open(this.names.bucket, { allow_direct: true });
        return this.#kv;
    }
    /** @internal The last message of subject in stream (a direct get); null if none or a marker. */
    async get(stream, subject) {
        const jsm = await this.#manager();
        let m;
        try {
            m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
        }
        catch (err) {
            throw wireError(`read ${subject}`, err, stream);
        }
        if (!m || isMarker(m.data, m.header))
            return null;
        return { subject: m.subject, seq: m.seq, time: Date.parse(m.timestamp), data: m.data, header: m.header };
    }
    /** @internal A record of the bucket by key; null if absent or a marker. */
    async record(key) {
        const kv = await this.#bucket();
        let e;
        try {
            e = await kv.get(key);
        }
        catch (err) {
            throw wireError(`read ${key}`, err, this.names.kvStream);
        }
        if (!e || e.operation !== "PUT" || e.value.length === 0)
            return null;
        return { subject: this.names.keySubject(key), seq: e.revision, time: e.created.getTime(), data: e.value };
    }
    /** @internal The task's queue from any record of it, else its queued task; undefined if none exists. */
    async locate(id) {
        const rec = await this.get(this.names.kvStream, this.names.keySubject(`*.*.${id}`));
        if (rec)
            return parseSubject(rec.subject).queue;
        const task = await this.get(this.names.tasksStream, this.names.task("*", id));
        if (task)
            return parseSubject(task.subject).queue;
        if (await this.schedulesReady()) {
            const n = this.names;
            const at = await this.get(n.schedulesStream, n.sched("at", "*", id));
            if (at)
                return parseSubject(at.subject).queue; // <prefix>.sched.at.<queue>.<id>
            const due = await this.get(n.schedulesStream, n.sched("due", "*", id));
            if (due)
                return due.subject.split(".").at(-3); // <prefix>.sched.fire.<queue>.due.<id>
        }
        return undefined;
    }
    /** @internal Decodes an outcome or cancellation record (or its event) on subject. */
    decodeOutcome(subject, data, seq) {
        return readOutcome(this.codec, subject, data, seq);
    }
    /** @internal The task's outcome: the first written of r. and c.; null while it has none. */
    async outcome(queue, id) {
        const [r, c] = await Promise.all([
            this.record(this.names.key("r", queue, id)),
            this.record(this.names.key("c", queue, id)),
        ]);
        return this.#first(r, c);
    }
    #first(r, c) {
        if (!r && !c)
            return null;
        const rec = !c || (r && r.seq < c.seq) ? r : c;
        return this.decodeOutcome(rec.subject, rec.data, rec.seq);
    }
    /** @internal The items-stream sequence of the last message of the task's items (0 if none), and whether it is the end marker. */
    async lastItem(queue, id) {
        const jsm = await this.#manager();
        let m;
        try {
            m = await jsm.streams.getMessage(this.names.itemsStream, { last_by_subj: this.names.items(queue, id) });
        }
        catch (err) {
            throw wireError(`read items of ${id}`, err, this.names.itemsStream);
        }
        return m ? { seq: m.seq, end: !!m.header?.get("Strand-End") } : { seq: 0, end: false };
    }
    /** @internal The task's state record; null if none. */
    async state(queue, id) {
        const s = await this.record(this.names.key("s", queue, id));
        return s ? this.codec.record(s.data) : null;
    }
    /**
     * @internal What the server holds of the task, read in the protocol's
     * order: its outcome, else the queued task and its state; the queue is
     * located when not given.
     */
    async look(queue, id) {
        queue ??= await this.locate(id);
        if (!queue)
            return null;
        const n = this.names;
        const [r, c, t, s] = await Promise.all([
            this.record(n.key("r", queue, id)),
            this.record(n.key("c", queue, id)),
            this.queued(queue, id),
            this.record(n.key("s", queue, id)),
        ]);
        const l = { queue };
        const o = this.#first(r, c);
        if (o)
            return { ...l, outcome: o };
        if (!t) {
            // Answered between the reads, or gone: read the outcome again.
            const again = await this.outcome(queue, id);
            if (again)
                return { ...l, outcome: again };
            return this.#lookScheduled(l, id);
        }
        return this.#fill(l, id, t, s);
    }
    /** @internal The queued task in whichever lane of its queue (normal, high, low); null if none. */
    async queued(queue, id) {
        const n = this.names;
        const recs = await Promise.all(["", "high", "low"].map((lane) => this.get(n.tasksStream, n.task(queue, id, lane))));
        return recs.find((r) => r !== null) ?? null;
    }
    // #lookScheduled finishes a look of a task neither queued nor finished:
    // it may be delayed (scheduled) or due. The reads follow the task's way
    // (delayed, due, queued, outcome), so one that moves on is found.
    async #lookScheduled(l, id) {
        if (!(await this.schedulesReady()))
            return l;
        const n = this.names;
        const at = await this.get(n.schedulesStream, n.sched("at", l.queue, id));
        if (at) {
            this.#fill(l, id, at, null);
            l.scheduled = true;
            l.runAt = parseScheduleAt(at.header?.get("Nats-Schedule"));
            const ttl = ttlMs(at.header?.get("Strand-Task-TTL"));
            l.expires = l.runAt !== undefined && Number.isFinite(ttl) && ttl > 0 ? l.runAt + ttl : 0;
            return l;
        }
        const due = await this.get(n.schedulesStream, n.sched("due", l.queue, id));
        if (due)
            return this.#fill(l, id, due, null);
        const [t, s] = await Promise.all([this.queued(l.queue, id), this.record(n.key("s", l.queue, id))]);
        if (t)
            return this.#fill(l, id, t, s);
        const o = await this.outcome(l.queue, id);
        return o ? { ...l, outcome: o } : l;
    }
    // #fill decodes a queued, delayed or due task's message (and its state) into l.
    #fill(l, id, t, s) {
        const queue = l.queue;
        const th = t.header;
        l.format = formatOf(th.get("Content-Type")) ?? sniff(t.data);
        try {
            l.task = this.codec.decode(t.data, l.format);
        }
        catch {
            l.task = { v: VERSION, id, func: th.get("Strand-Func") };
        }
        l.task.queue = queue;
        const ttl = ttlMs(th.get("Nats-TTL"));
        l.expires = Number.isFinite(ttl) && ttl > 0 ? t.time + ttl : 0;
        if (s)
            l.state = this.codec.record(s.data);
        return l;
    }
    /** @internal Cancels a queued or running task (docs/protocol.md, "Cancelling"). */
    async cancel(queue, id, reason = "cancelled by caller", pendingOnly = false) {
        const l = await this.look(queue, id);
        if (l?.outcome)
            throw new FinishedError(id, l.outcome.status);
        if (!l?.task)
            throw new NotFoundError(id);
        if (pendingOnly && l.state)
            throw new FinishedError(id, l.state.status ?? "running");
        const env = l.task;
        // The record outlives the queued task: the longer of the result TTL
        // and what is left of the task TTL.
        let ttl = clampResultTTL(env.result_ttl_ms, DEFAULT_RESULT_TTL_MS);
        if (l.expires)
            ttl = Math.max(ttl, l.expires - Date.now()); // for a delayed task: its time plus the task TTL
        const rec = cancellation(env, l.queue, Date.now(), reason);
        const kv = await this.#bucket();
        let seq;
        try {
            // Create-only (over a marker, if the key had one), with its TTL.
            seq = await kv.create(this.names.key("c", l.queue, id), this.codec.encode(rec, l.format ?? "msgpack", `cancel ${id}`), `${Math.ceil(ttl / 1000)}s`);
        }
        catch (err) {
            if (err instanceof JetStreamApiError && err.code === ERR_WRONG_LAST_SEQUENCE)
                throw new FinishedError(id, "cancelled");
            throw wireError(`cancel ${id}`, err, this.names.kvStream);
        }
        // The task may have finished between the reads and the write.
        const first = await this.outcome(l.queue, id);
        const firstSeq = first?.seq ?? 0;
        if (first && firstSeq < seq)
            throw new FinishedError(id, first.status);
        if (l.scheduled)
            await this.#unschedule(l.queue, id);
        // The task has ended: so has the uniqueness it held until it finished.
        if (env.unique === "finished" && typeof env.key === "string" && env.key)
            await this.releaseUnique(l.queue, env.key, id);
    }
    // Flow control: uniqueness and debounce keys (docs/protocol.md, "Flow control").
    #flowOk = false;
    // #flowGet reads the last message of a flow record's subject (markers
    // included); null if none. It makes the bucket first when it is missing.
    async #flowGet(subject) {
        if (!this.#flowOk) {
            await this.#flowBucket();
            this.#flowOk = true;
        }
        const jsm = await this.#manager();
        let m;
        try {
            m = await jsm.direct.getMessage(this.names.flowStream, { last_by_subj: subject });
        }
        catch (err) {
            throw wireError(`read ${subject}`, err, this.names.flowStream);
        }
        if (!m)
            return null;
        return { subject: m.subject, seq: m.seq, time: Date.parse(m.timestamp), data: m.data, header: m.header };
    }
    // #flowBucket creates the flow-control bucket as strand's Go broker
    // does, unless it exists.
    async #flowBucket() {
        const n = this.names;
        try {
            const info = await this.nc.request(`$JS.API.STREAM.INFO.${n.flowStream}`, "", { timeout: 5000 });
            if (info.json().error?.err_code !== 10059)
                return; // it exists (or the first write says why not)
        }
        catch {
            // the write says more
        }
        const cfg = {
            name: n.flowStream,
            description: "strand flow control: paused queues, uniqueness and debounce keys, limits' leases",
            subjects: [`$KV.${n.flowBucket}.>`],
            max_msgs_per_subject: 1, max_msgs: -1, max_bytes: -1, max_consumers: -1,
            storage: "file", num_replicas: 1, allow_rollup_hdrs: true, allow_direct: true, discard: "new",
            duplicate_window: 120e9, allow_msg_ttl: true, subject_delete_marker_ttl: 60e9, retention: "limits",
        };
        let reply;
        try {
            const m = await this.nc.request(`$JS.API.STREAM.CREATE.${n.flowStream}`, JSON.stringify(cfg), { timeout: 5000 });
            reply = m.json();
        }
        catch (err) {
            throw wireError(`create bucket ${n.flowBucket}`, err, n.flowStream);
        }
        const code = reply.error?.err_code;
        // 10058: in use (another config), 10065: its subjects overlap (made otherwise).
        if (reply.error && code !== 10058 && code !== 10065) {
            throw new StrandError("unavailable", `create bucket ${n.flowBucket}: ${reply.error.description ?? code}`);
        }
    }
    // #flowWrite writes a flow record: its sequence, or 0 when refused for
    // its expected sequence; retried while the server does not answer.
    async #flowWrite(subject, value, hdrs, what) {
        const h = headers();
        for (const [k, v] of Object.entries(hdrs))
            h.set(k, v);
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                return (await this.js.publish(subject, value, { headers: h })).seq;
            }
            catch (err) {
                if (err instanceof JetStreamApiError && err.code === ERR_WRONG_LAST_SEQUENCE)
                    return 0;
                if (!transient(err) || Date.now() + pause > deadline || this.closed)
                    throw wireError(what, err, this.names.flowStream);
            }
            await new Promise((r) => setTimeout(r, pause));
        }
    }
    // #claimUnique claims a uniqueness key for id: a create, which the
    // server grants once. "" once claimed, else the id of the task holding
    // it (an until-finished holder that has finished is released first).
    async #claimUnique(queue, key, id, ttlMs, untilFinished) {
        const subject = this.names.flow("u", queue, key);
        let released = false;
        for (let i = 0; i < 10; i++) {
            const last = await this.#flowGet(subject);
            if (last && !isMarker(last.data, last.header)) {
                const holder = TD.decode(last.data);
                if (untilFinished && !released && (await this.outcome(queue, holder))) {
                    // Its worker died before it released the key: free it, claim again.
                    await this.#purgeFlow(subject, last.seq);
                    released = true;
                    continue;
                }
                return holder;
            }
            const hdrs = { "Nats-Expected-Last-Subject-Sequence": String(last?.seq ?? 0), "Nats-TTL": `${Math.ceil(ttlMs / 1000)}s` };
            if (await this.#flowWrite(subject, TE.encode(id), hdrs, `unique ${key}`))
                return "";
        }
        throw new StrandError("conflict", `unique ${key}: too many producers at once`);
    }
    async #purgeFlow(subject, seq) {
        const hdrs = { "KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-Expected-Last-Subject-Sequence": String(seq) };
        await this.#flowWrite(subject, new Uint8Array(0), hdrs, `release ${subject}`);
    }
    /** @internal Frees a uniqueness key that task id holds (another holder's is left alone). */
    async releaseUnique(queue, key, id) {
        const subject = this.names.flow("u", queue, key);
        const last = await this.#flowGet(subject);
        if (last && !isMarker(last.data, last.header) && TD.decode(last.data) === id)
            await this.#purgeFlow(subject, last.seq);
    }
    // #debounce makes id the holder of the debounce key, expecting the
    // sequence it read: the server orders racing producers, the last holds
    // it. Returns the id it replaced ("" if none).
    async #debounce(queue, key, id, ttlMs) {
        const subject = this.names.flow("d", queue, key);
        for (let i = 0; i < 50; i++) {
            const last = await this.#flowGet(subject);
            const holder = last && !isMarker(last.data, last.header) ? TD.decode(last.data) : "";
            const hdrs = { "Nats-Expected-Last-Subject-Sequence": String(last?.seq ?? 0), "Nats-TTL": `${Math.ceil(ttlMs / 1000)}s` };
            if (await this.#flowWrite(subject, TE.encode(id), hdrs, `debounce ${key}`))
                return holder;
        }
        throw new StrandError("conflict", `debounce ${key}: too many producers at once`);
    }
    // #unschedule replaces a delayed task's schedule with an empty message
    // that expires a second later, so that the server never fires it (if it
    // fired meanwhile, its worker finds the cancellation).
    async #unschedule(queue, id) {
        const h = headers();
        h.set("Nats-Rollup", "sub");
        h.set("Nats-TTL", "1s");
        const deadline = Date.now() + SUBMIT_RETRY_MS;
        for (let pause = 50;; pause = Math.min(2 * pause, 1000)) {
            try {
                await this.js.publish(this.names.sched("at", queue, id), new Uint8Array(0), { headers: h });
                return;
            }
            catch (err) {
                if (!transient(err) || Date.now() + pause > deadline || this.closed) {
                    throw wireError(`cancel ${id}: cancelled, but its schedule stays until it fires`, err, this.names.schedulesStream);
                }
            }
            await new Promise((r) => setTimeout(r, pause));
        }
    }
}
function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}
// wholeMs checks a count or a duration in ms: a whole number of at least
// min (0 = unset is allowed for optional counts).
function wholeMs(func, what, v, min) {
    if (v === undefined || v === null)
        return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || (v !== 0 && v < min) || (min > 0 && v === 0)) {
        throw new BadOption(`submit ${func}: ${what} must be a whole number${min > 0 ? ` of at least ${min}` : " ≥ 0"}, got ${String(v)}`);
    }
    return v;
}
/** A UUIDv7 (RFC 9562): 48 bits of unix ms, then random bits; ids sort by time, as strand's Go writer makes them. */
export function uuidv7() {
    const b = Buffer.from(randomUUID().replace(/-/g, ""), "hex");
    const ms = Date.now();
    b.writeUIntBE(ms, 0, 6);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = b.toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
