// A strand producer for Node.js, written from docs/protocol.md (version 2)
// alone: submit a task, wait for its outcome through the events protocol,
// read its status, cancel it.
//
//   import { connect } from "./strand.mjs";
//   const strand = await connect({ servers: "nats://127.0.0.1:4222" });
//   const id = await strand.submit("add", [2, 3]);
//   console.log(await strand.result(id)); // 5
//   await strand.close();

import { connect as natsConnect, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { encode, decode } from "@msgpack/msgpack";
import { randomUUID } from "node:crypto";

/** The protocol version this client writes. */
export const VERSION = 2;

/** The default task TTL, 14 days, as strand's Go writer spells it. */
export const DEFAULT_TASK_TTL = "336h0m0s";

/** A canceller's default result TTL when the task names none: 24 h, in ms. */
export const DEFAULT_RESULT_TTL_MS = 24 * 3600 * 1000;

const ID_RE = /^[A-Za-z0-9_=-]{1,128}$/;
const QUEUE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TERMINAL = new Set(["completed", "failed", "cancelled", "dead"]);
const TD = new TextDecoder();
const TE = new TextEncoder();

// The server's answer to a second publish on a task's subject (one message
// per subject, discard new): the id is taken.
const ERR_SUBJECT_FULL = 10077;
// A create-only write over an existing record (wrong last sequence).
const ERR_WRONG_LAST_SEQUENCE = 10071;

/** A task that ended other than completed: status and error as its outcome records them. */
export class TaskError extends Error {
  constructor(id, outcome) {
    const err = outcome.error ?? {};
    super(err.message || `task ${id} ${outcome.status}`);
    this.name = "TaskError";
    this.id = id;
    this.status = outcome.status;
    this.kind = err.kind ?? "";
    this.outcome = outcome;
  }
}

/** The id is taken: its task is queued or running, or (an id of your own) its outcome is kept. */
export class DuplicateError extends Error {
  constructor(id) {
    super(`duplicate task id ${id}`);
    this.name = "DuplicateError";
    this.id = id;
  }
}

/** A cancel of a task that has an outcome already: it changes nothing. */
export class FinishedError extends Error {
  constructor(id, status) {
    super(`task ${id} has finished (${status})`);
    this.name = "FinishedError";
    this.id = id;
    this.status = status;
  }
}

/** A cancel of a task of which nothing is left (never submitted, or expired). */
export class NotFoundError extends Error {
  constructor(id) {
    super(`task ${id} not found`);
    this.name = "NotFoundError";
    this.id = id;
  }
}

/** No outcome arrived within the caller's wait timeout. */
export class WaitTimeoutError extends Error {
  constructor(id, ms) {
    super(`task ${id}: no outcome after ${ms} ms`);
    this.name = "WaitTimeoutError";
    this.id = id;
  }
}

/**
 * Decodes a record by its first byte that is not white space: `{` is JSON,
 * anything else msgpack (records are maps; a record may lack Content-Type).
 */
export function decodeRecord(data) {
  for (const b of data) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b ? JSON.parse(TD.decode(data)) : decode(data);
  }
  throw new Error("empty record");
}

/**
 * The protocol's rule for a cancellation record c.<queue>.<id>: it reads as
 * cancelled, kind cancelled, no result, whatever it holds.
 */
export function asCancelled(record) {
  const out = { ...record, status: "cancelled" };
  delete out.result;
  if (out.error?.kind !== "cancelled") out.error = { kind: "cancelled", message: "cancelled by caller" };
  return out;
}

// isMarker tells a delete, purge or expiry marker from a record.
function isMarker(data, hdrs) {
  return !data || data.length === 0 || !!hdrs?.get("KV-Operation") || !!hdrs?.get("Nats-Marker-Reason");
}

// ttlMs reads a Nats-TTL header: a number of seconds or a Go duration
// string (336h0m0s, 1h, 90s, 500ms); NaN if it is neither.
export function ttlMs(s) {
  if (!s) return NaN;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const unit = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6 };
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
  let m;
  let at = 0;
  while ((m = re.exec(s)) !== null) {
    ms += Number(m[1]) * unit[m[2]];
    at = re.lastIndex;
  }
  return at === s.length && at > 0 ? ms : NaN;
}

/**
 * Connects to NATS. opts: the transport's options (servers, …) plus
 * prefix (default "strand"), the deployment's name prefix.
 */
export async function connect(opts = {}) {
  const { prefix = "strand", ...natsOpts } = opts;
  const nc = await natsConnect(natsOpts);
  return new Client(nc, prefix);
}

/** A producer: submits tasks, waits for outcomes, reads status, cancels. */
export class Client {
  constructor(nc, prefix = "strand") {
    this.nc = nc;
    this.prefix = prefix;
    this.bucket = prefix.toUpperCase();
    this.kvStream = `KV_${this.bucket}`;
    this.tasksStream = `${this.bucket}_TASKS`;
    this.js = jetstream(nc);
    this.jsm = null; // made on first read
    this.queues = new Map(); // id → queue of the tasks submitted here
  }

  /**
   * Submits func(...args) and returns the task id. opts: kwargs (for a
   * handler that takes them), queue (default "default"), id (your own: an
   * idempotency key), timeoutMs (the handler's time limit), maxAttempts,
   * resultTtlMs, meta, json (send a JSON envelope: records and result come
   * back as JSON), taskTtl. Throws DuplicateError if the id is taken.
   */
  async submit(func, args = [], opts = {}) {
    const own = opts.id !== undefined && opts.id !== null;
    const id = own ? opts.id : randomUUID();
    const queue = opts.queue ?? "default";
    if (!ID_RE.test(id)) throw new Error(`bad task id ${JSON.stringify(id)}`);
    if (!QUEUE_RE.test(queue)) throw new Error(`bad queue ${JSON.stringify(queue)}`);
    const env = { v: VERSION, id, func, args, queue, created: Date.now() };
    if (opts.kwargs) env.kwargs = opts.kwargs;
    if (opts.timeoutMs) env.timeout_ms = opts.timeoutMs;
    if (opts.maxAttempts) env.max_attempts = opts.maxAttempts;
    if (opts.resultTtlMs) env.result_ttl_ms = opts.resultTtlMs;
    if (opts.meta) env.meta = opts.meta;

    // An id of your own stays taken while its outcome is kept: the server
    // only refuses it while the task is queued or running.
    if (own && (await this.outcome(id, { queue }))) throw new DuplicateError(id);

    const h = headers();
    h.set("Content-Type", opts.json ? "application/json" : "application/msgpack");
    h.set("Strand-Func", func);
    h.set("Nats-TTL", opts.taskTtl ?? DEFAULT_TASK_TTL);
    if (own) h.set("Strand-Own-Id", "1");
    const payload = opts.json ? TE.encode(JSON.stringify(env)) : encode(env);
    try {
      // A JetStream publish (a request): a core publish to a taken subject is dropped silently.
      await this.js.publish(`${this.prefix}.t.${queue}.${id}`, payload, { headers: h });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === ERR_SUBJECT_FULL) throw new DuplicateError(id);
      throw err;
    }
    this.queues.set(id, queue);
    return id;
  }

  /**
   * The task's outcome record: the first written of r.<queue>.<id> and
   * c.<queue>.<id> (a cancellation reads as cancelled); null while it has none.
   */
  async outcome(id, opts = {}) {
    const queue = await this.#queue(id, opts);
    if (!queue) return null;
    const [r, c] = await Promise.all([
      this.#get(this.kvStream, `$KV.${this.bucket}.r.${queue}.${id}`),
      this.#get(this.kvStream, `$KV.${this.bucket}.c.${queue}.${id}`),
    ]);
    if (!r && !c) return null;
    const first = !c || (r && r.seq < c.seq) ? r : c;
    return this.#decodeOutcome(first.subject, first.data, first.seq);
  }

  /**
   * Waits for the task's outcome as the protocol says: subscribe to
   * <prefix>.evt.*.<queue>.<id> (its outcome, cancellation and state
   * events, in the order the server stored them), flush, read the outcome,
   * else take the first outcome or cancellation event. Returns the outcome
   * record; rejects with WaitTimeoutError after timeoutMs (default 60 s).
   * opts.queue: the task's queue (default: known for tasks submitted here,
   * else located, else "default").
   */
  async wait(id, { timeoutMs = 60_000, queue } = {}) {
    queue = (await this.#queue(id, { queue })) || "default";
    const sub = this.nc.subscribe(`${this.prefix}.evt.*.${queue}.${id}`);
    try {
      await this.nc.flush();
      const got = await this.outcome(id, { queue });
      if (got) return got;
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new WaitTimeoutError(id, timeoutMs)), timeoutMs);
      });
      const next = (async () => {
        for await (const m of sub) {
          const kind = m.subject.split(".").at(-3);
          if (kind === "s" || isMarker(m.data, m.headers)) continue;
          return this.#decodeOutcome(m.subject, m.data, Number(m.headers?.get("Nats-Sequence") || 0));
        }
        throw new Error(`task ${id}: subscription closed`);
      })();
      try {
        return await Promise.race([next, timeout]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      sub.unsubscribe();
    }
  }

  /** Waits for the outcome and returns the result, or throws TaskError. */
  async result(id, opts) {
    const outcome = await this.wait(id, opts);
    if (outcome.status !== "completed") throw new TaskError(id, outcome);
    return outcome.result;
  }

  /**
   * The task's status, read in the protocol's order: its outcome, else its
   * queued task (absent: the outcome again, else unknown) and its state:
   * completed | failed | cancelled | dead | running | retrying | pending | unknown.
   */
  async status(id, opts = {}) {
    const queue = await this.#queue(id, opts);
    if (!queue) return "unknown";
    let o = await this.outcome(id, { queue });
    if (o) return o.status;
    const task = await this.#get(this.tasksStream, `${this.prefix}.t.${queue}.${id}`);
    if (!task) {
      o = await this.outcome(id, { queue }); // it may have finished between the reads
      return o ? o.status : "unknown";
    }
    const s = await this.#get(this.kvStream, `$KV.${this.bucket}.s.${queue}.${id}`);
    return s ? decodeRecord(s.data).status : "pending";
  }

  /**
   * Cancels a queued or running task as the protocol says. Throws
   * FinishedError if it has an outcome, NotFoundError if nothing of it is
   * left. opts: queue, resultTtlMs (when the task names none; default 24 h).
   */
  async cancel(id, opts = {}) {
    const queue = await this.#queue(id, opts);
    if (!queue) throw new NotFoundError(id);
    let o = await this.outcome(id, { queue });
    if (o) throw new FinishedError(id, o.status);
    const task = await this.#get(this.tasksStream, `${this.prefix}.t.${queue}.${id}`);
    if (!task) {
      o = await this.outcome(id, { queue });
      if (o) throw new FinishedError(id, o.status);
      throw new NotFoundError(id);
    }
    const json = /^application\/json\b/.test(task.header.get("Content-Type") ?? "");
    const env = decodeRecord(task.data);
    // The record outlives the queued task: the longer of the result TTL
    // and what is left of the task TTL.
    let resultMs = env.result_ttl_ms > 0 ? env.result_ttl_ms : (opts.resultTtlMs ?? DEFAULT_RESULT_TTL_MS);
    resultMs = Math.min(Math.max(resultMs, 1000), 365 * 24 * 3600 * 1000);
    const left = Date.parse(task.timestamp) + ttlMs(task.header.get("Nats-TTL")) - Date.now();
    const ttlS = Math.ceil(Math.max(resultMs, Number.isFinite(left) ? left : 0) / 1000);
    const func = env.func ?? task.header.get("Strand-Func") ?? "";
    const rec = {
      status: "cancelled",
      error: { kind: "cancelled", message: `${func}: cancelled by caller` },
      finished: Date.now(),
      func,
      queue,
    };
    if (env.created) rec.created = env.created;
    if (env.meta) rec.meta = env.meta;
    const h = headers();
    h.set("Content-Type", json ? "application/json" : "application/msgpack");
    h.set("Nats-TTL", String(ttlS));
    let ack;
    try {
      ack = await this.js.publish(`$KV.${this.bucket}.c.${queue}.${id}`,
        json ? TE.encode(JSON.stringify(rec)) : encode(rec),
        { headers: h, expect: { lastSubjectSequence: 0 } });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === ERR_WRONG_LAST_SEQUENCE) throw new FinishedError(id, "cancelled");
      throw err;
    }
    // The task may have finished between the reads and the write.
    const r = await this.#get(this.kvStream, `$KV.${this.bucket}.r.${queue}.${id}`);
    if (r && r.seq < ack.seq) throw new FinishedError(id, decodeRecord(r.data).status);
  }

  /**
   * The task's queue: from any of its records ($KV.<B>.*.*.<id>), else its
   * queued task (<prefix>.t.*.<id>); null when nothing of it exists.
   */
  async locate(id) {
    const rec = await this.#get(this.kvStream, `$KV.${this.bucket}.*.*.${id}`);
    if (rec) return rec.subject.split(".").at(-2);
    const task = await this.#get(this.tasksStream, `${this.prefix}.t.*.${id}`);
    return task ? task.subject.split(".").at(-2) : null;
  }

  /** Closes the connection once pending messages are sent. */
  async close() {
    await this.nc.drain();
  }

  async #queue(id, { queue } = {}) {
    if (!ID_RE.test(id)) throw new Error(`bad task id ${JSON.stringify(id)}`);
    return queue ?? this.queues.get(id) ?? (await this.locate(id));
  }

  // #decodeOutcome decodes an r. or c. record (or its event) on subject.
  #decodeOutcome(subject, data, seq) {
    const rec = decodeRecord(data);
    const kind = subject.split(".").at(-3);
    const out = kind === "c" ? asCancelled(rec) : rec;
    Object.defineProperty(out, "seq", { value: seq, enumerable: false });
    return out;
  }

  // #get is a direct get of subject's last message in stream; null when
  // absent (404) or a marker.
  async #get(stream, subject) {
    this.jsm ??= await jetstreamManager(this.nc);
    const m = await this.jsm.direct.getMessage(stream, { last_by_subj: subject });
    if (!m || isMarker(m.data, m.header)) return null;
    return m;
  }
}

/** Returns true if status is terminal: the task will not change again. */
export function isTerminal(status) {
  return TERMINAL.has(status);
}
