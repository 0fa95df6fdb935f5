// A strand producer for Node.js, written from docs/protocol.md alone: submit
// a task, wait for its outcome through the events protocol, read its status.
//
//   import { connect } from "./strand.mjs";
//   const strand = await connect({ servers: "nats://127.0.0.1:4222" });
//   const id = await strand.submit("add", [2, 3]);
//   console.log(await strand.result(id)); // 5
//   await strand.close();

import { connect as natsConnect, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { encode, decode } from "@msgpack/msgpack";
import { randomUUID } from "node:crypto";

/** The default task TTL, 14 days, as strand's Go writer spells it. */
export const DEFAULT_TASK_TTL = "336h0m0s";

const ID_RE = /^[A-Za-z0-9_=-]{1,128}$/;
const QUEUE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TERMINAL = new Set(["completed", "failed", "cancelled", "dead"]);
const TD = new TextDecoder();
const TE = new TextEncoder();

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

/** The id is taken: a task with this id was submitted within the task TTL. */
export class DuplicateError extends Error {
  constructor(id) {
    super(`duplicate task id ${id}`);
    this.name = "DuplicateError";
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
 * anything else msgpack (records carry no Content-Type).
 */
export function decodeRecord(data) {
  for (const b of data) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b ? JSON.parse(TD.decode(data)) : decode(data);
  }
  throw new Error("empty record");
}

// isMarker tells a delete, purge or expiry marker from a record.
function isMarker(data, hdrs) {
  return !data || data.length === 0 || !!hdrs?.get("KV-Operation") || !!hdrs?.get("Nats-Marker-Reason");
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

/** A producer: submits tasks, waits for outcomes, reads status. */
export class Client {
  constructor(nc, prefix = "strand") {
    this.nc = nc;
    this.prefix = prefix;
    this.bucket = prefix.toUpperCase();
    this.stream = `KV_${this.bucket}`;
    this.js = jetstream(nc);
    this.kvm = new Kvm(nc);
    this.kv = null; // opened on first read
  }

  /**
   * Submits func(...args) and returns the task id. opts: kwargs, queue
   * (default "default"), id (your own: an idempotency key), timeoutMs (the
   * handler's time limit), maxAttempts, resultTtlMs, meta, json (send a
   * JSON envelope: records and result come back as JSON), taskTtl.
   */
  async submit(func, args = [], opts = {}) {
    const id = opts.id ?? randomUUID();
    const queue = opts.queue ?? "default";
    if (!ID_RE.test(id)) throw new Error(`bad task id ${JSON.stringify(id)}`);
    if (!QUEUE_RE.test(queue)) throw new Error(`bad queue ${JSON.stringify(queue)}`);
    const env = { v: 1, id, func, args, queue, created: Date.now() };
    if (opts.kwargs) env.kwargs = opts.kwargs;
    if (opts.timeoutMs) env.timeout_ms = opts.timeoutMs;
    if (opts.maxAttempts) env.max_attempts = opts.maxAttempts;
    if (opts.resultTtlMs) env.result_ttl_ms = opts.resultTtlMs;
    if (opts.meta) env.meta = opts.meta;

    const h = headers();
    h.set("Content-Type", opts.json ? "application/json" : "application/msgpack");
    h.set("Strand-Func", func);
    h.set("Nats-TTL", opts.taskTtl ?? DEFAULT_TASK_TTL);
    const payload = opts.json ? TE.encode(JSON.stringify(env)) : encode(env);
    try {
      // Create-only: the header Nats-Expected-Last-Subject-Sequence: 0.
      await this.js.publish(`$KV.${this.bucket}.t.${queue}.${id}`, payload, {
        headers: h,
        expect: { lastSubjectSequence: 0 },
      });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === 10071) throw new DuplicateError(id);
      throw err;
    }
    return id;
  }

  /**
   * Waits for the task's outcome as the protocol says: subscribe to
   * <prefix>.evt.r.<id>, flush, read r.<id>, else wait for the first
   * outcome event. Returns the outcome record; rejects with
   * WaitTimeoutError after timeoutMs (default 60 s).
   */
  async wait(id, { timeoutMs = 60_000 } = {}) {
    const sub = this.nc.subscribe(`${this.prefix}.evt.r.${id}`);
    try {
      await this.nc.flush();
      const got = await this.#get(`r.${id}`);
      if (got) return decodeRecord(got.data);
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new WaitTimeoutError(id, timeoutMs)), timeoutMs);
      });
      const next = (async () => {
        for await (const m of sub) {
          if (!isMarker(m.data, m.headers)) return decodeRecord(m.data);
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
   * The task's status, read in the protocol's order r → s → t:
   * completed | failed | cancelled | dead | running | retrying | pending | unknown.
   */
  async status(id) {
    const r = await this.#get(`r.${id}`);
    if (r) return decodeRecord(r.data).status;
    const s = await this.#get(`s.${id}`);
    if (s) return decodeRecord(s.data).status;
    // The queue is not known here: the last message on t.*.<id>.
    const jsm = await jetstreamManager(this.nc);
    const t = await jsm.direct.getMessage(this.stream, { last_by_subj: `$KV.${this.bucket}.t.*.${id}` });
    if (!t || isMarker(t.data, t.header)) return "unknown";
    // Task records outlive outcomes: a record the queue's consumer has
    // already acked belongs to a task whose outcome expired.
    const queue = t.subject.split(".").at(-2);
    try {
      const ci = await jsm.consumers.info(this.stream, `${this.prefix}-${queue}`);
      if (t.seq <= ci.ack_floor.stream_seq) return "unknown";
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err; // no consumer yet: nothing ran
    }
    return "pending";
  }

  /** Closes the connection once pending messages are sent. */
  async close() {
    await this.nc.drain();
  }

  // #get reads key from the bucket; null when absent or a marker.
  async #get(key) {
    this.kv ??= await this.kvm.open(this.bucket);
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT" || e.length === 0) return null;
    return { data: e.value, seq: e.revision };
  }
}

/** Returns true if status is terminal: the task will not change again. */
export function isTerminal(status) {
  return TERMINAL.has(status);
}
