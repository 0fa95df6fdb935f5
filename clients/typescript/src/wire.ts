// The wire of docs/protocol.md (version 2) that a producer needs: names,
// the envelope, the records and their markers. Nothing here does I/O.

import { Decoder, Encoder } from "@msgpack/msgpack";
import { BadOption } from "./errors.js";

/** The protocol version this client writes (`codec.Version` in Go). */
export const VERSION = 2;

/** A task's status: the first three while it runs, the next four once it has ended; `unknown` when nothing describes it. */
export type Status = "scheduled" | "pending" | "running" | "retrying" | "completed" | "failed" | "cancelled" | "dead" | "unknown";

/** The statuses after which a task never changes again. */
export const TERMINAL: ReadonlySet<Status> = new Set<Status>(["completed", "failed", "cancelled", "dead"]);

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
export const CONTENT_TYPE: Record<Format, string> = {
  msgpack: "application/msgpack",
  json: "application/json",
};

const ID_RE = /^[A-Za-z0-9_=-]{1,128}$/;
const QUEUE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_RE = /^[a-z0-9_-]{1,64}$/;

/** Throws BadOption unless id is a task id: 1–128 characters of A–Z a–z 0–9 _ = -. */
export function checkID(id: unknown): string {
  if (typeof id !== "string" || !ID_RE.test(id)) {
    throw new BadOption(`bad task id ${JSON.stringify(id)}: want 1–128 characters of A-Z a-z 0-9 _ = -`);
  }
  return id;
}

/** Throws BadOption unless queue is a queue name: 1–64 characters of A–Z a–z 0–9 _ -. */
export function checkQueue(queue: unknown): string {
  if (typeof queue !== "string" || !QUEUE_RE.test(queue)) {
    throw new BadOption(`bad queue ${JSON.stringify(queue)}: want 1–64 characters of A-Z a-z 0-9 _ -`);
  }
  return queue;
}

/** The names of one deployment (docs/protocol.md, "Names"). */
export class Names {
  readonly prefix: string;
  readonly bucket: string;

  constructor(prefix = "strand") {
    if (!PREFIX_RE.test(prefix)) {
      throw new BadOption(`bad prefix ${JSON.stringify(prefix)}: want a lowercase subject token`);
    }
    this.prefix = prefix;
    this.bucket = prefix.toUpperCase();
  }

  /** The bucket's stream, KV_STRAND. */
  get kvStream(): string {
    return `KV_${this.bucket}`;
  }
  /** The work-queue stream of queued tasks, STRAND_TASKS. */
  get tasksStream(): string {
    return `${this.bucket}_TASKS`;
  }
  /** The stream of streamed items, STRAND_ITEMS. */
  get itemsStream(): string {
    return `${this.bucket}_ITEMS`;
  }
  /** The stream of delayed tasks and named schedules, STRAND_SCHEDULES. */
  get schedulesStream(): string {
    return `${this.bucket}_SCHEDULES`;
  }
  /**
   * A subject of the schedules stream: <prefix>.sched.<kind>.<queue>.<name>,
   * for a firing (due, tick) <prefix>.sched.fire.<queue>.<kind>.<name>.
   */
  sched(kind: "at" | "due" | "cron" | "tick" | "last", queue: string, name: string): string {
    if (kind === "due" || kind === "tick") return `${this.prefix}.sched.fire.${queue}.${kind}.${name}`;
    return `${this.prefix}.sched.${kind}.${queue}.${name}`;
  }
  /** The subject of a queued task, in its queue's lane ("" normal, "high", "low"). */
  task(queue: string, id: string, lane = ""): string {
    return lane ? `${this.prefix}.t.${queue}~${lane}.${id}` : `${this.prefix}.t.${queue}.${id}`;
  }
  /** The subjects of a task id in every queue and lane. */
  idSubjects(id: string): string {
    return `${this.prefix}.t.*.${id}`;
  }
  /** The flow-control bucket, <BUCKET>_FLOW. */
  get flowBucket(): string {
    return `${this.bucket}_FLOW`;
  }
  /** The stream of the flow-control bucket. */
  get flowStream(): string {
    return `KV_${this.bucket}_FLOW`;
  }
  /** A flow-control record's subject: $KV.<BUCKET>_FLOW.<kind>.<queue>.<key>. */
  flow(kind: "u" | "d", queue: string, key: string): string {
    return `$KV.${this.bucket}_FLOW.${kind}.${queue}.${key}`;
  }
  /** The key of a task's record of kind s, r or c. */
  key(kind: "s" | "r" | "c", queue: string, id: string): string {
    return `${kind}.${queue}.${id}`;
  }
  /** The subject a key is stored on. */
  keySubject(key: string): string {
    return `$KV.${this.bucket}.${key}`;
  }
  /** The events of a task: every write of its records, republished. */
  events(queue: string, id: string): string {
    return `${this.prefix}.evt.*.${queue}.${id}`;
  }
  /** The subject of a task's streamed items and their end marker. */
  items(queue: string, id: string): string {
    return `${this.prefix}.items.${queue}.${id}`;
  }
}

/** Reads a subject's last three tokens as kind (or `t`), queue and id. */
export function parseSubject(subject: string): { kind: string; queue: string; id: string } {
  const t = subject.split(".");
  // A priority lane's <queue>~<lane> is its queue's.
  return { kind: t.at(-3) ?? "", queue: (t.at(-2) ?? "").split("~")[0], id: t.at(-1) ?? "" };
}

/** The headers this module reads; any object with `get` (nats.js MsgHdrs) will do. */
export interface HeaderReader {
  get(k: string): string;
}

/**
 * Reports whether a stored message (or its event) is a marker, not a
 * record: an empty payload, a KV delete or purge, the server's expiry mark.
 */
export function isMarker(data: Uint8Array | undefined, h: HeaderReader | undefined): boolean {
  return !data || data.length === 0 || !!h?.get("KV-Operation") || !!h?.get("Nats-Marker-Reason");
}

/** A format from a Content-Type header; undefined for an absent or unknown one. */
export function formatOf(contentType: string | undefined): Format | undefined {
  const t = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (t === "application/json") return "json";
  if (t === "application/msgpack") return "msgpack";
  return undefined;
}

/** A record's format by its first byte that is not white space: `{` is JSON, anything else msgpack. */
export function sniff(data: Uint8Array): Format {
  for (const b of data) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b ? "json" : "msgpack";
  }
  return "msgpack";
}

const TD = new TextDecoder();
const TE = new TextEncoder();

/** Encodes and decodes values in both formats. */
export class Codec {
  readonly #enc: Encoder;
  readonly #dec: Decoder;

  // Integers decode as numbers (beyond 2^53 they lose precision). Not
  // useBigInt64: with it, whole numbers beyond 32 bits (Date.now()) would
  // encode as floats, which integer fields and parameters refuse.
  constructor() {
    this.#enc = new Encoder();
    this.#dec = new Decoder();
  }

  /** Encodes value; throws BadOption for what the format cannot carry as it is. */
  encode(value: unknown, f: Format, what: string): Uint8Array {
    try {
      if (f === "json") {
        return TE.encode(JSON.stringify(value, jsonValue));
      }
      return this.#enc.encode(value);
    } catch (err) {
      throw new BadOption(`${what}: cannot encode as ${f}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Decodes a value in format f. */
  decode(data: Uint8Array, f: Format): unknown {
    return f === "json" ? JSON.parse(TD.decode(data)) : this.#dec.decode(data);
  }

  /** Decodes a record (a map) by its first byte. */
  record<T>(data: Uint8Array): T {
    const v = this.decode(data, sniff(data));
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new Error("record is not a map");
    }
    return v as T;
  }
}

// jsonValue refuses what JSON.stringify would change silently or cannot
// carry: NaN and the infinities (it writes null), bigint (it throws a
// less clear error).
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`${v} is not a JSON number`);
  if (typeof v === "bigint") {
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    throw new Error(`bigint ${v} does not fit a JSON number exactly; send msgpack`);
  }
  return v;
}

/**
 * The envelope in the key order of strand's Go writer, with zero and empty
 * fields left out (but args), so that both write the same bytes for the same task.
 */
export function envelope(e: Envelope): Envelope {
  // args is always there, as Go writes it: [] for none (null if given so).
  const out: Envelope = { v: e.v, id: e.id, func: e.func, args: e.args === undefined ? [] : e.args };
  if (e.kwargs && Object.keys(e.kwargs).length > 0) out.kwargs = e.kwargs;
  if (e.queue) out.queue = e.queue;
  if (e.created) out.created = e.created;
  if (e.deadline) out.deadline = e.deadline;
  if (e.timeout_ms) out.timeout_ms = e.timeout_ms;
  if (e.max_attempts) out.max_attempts = e.max_attempts;
  if (e.result_ttl_ms) out.result_ttl_ms = e.result_ttl_ms;
  if (e.meta && Object.keys(e.meta).length > 0) out.meta = e.meta;
  if (e.trace) out.trace = e.trace;
  if (e.priority) out.priority = e.priority;
  if (e.key) out.key = e.key;
  if (e.unique) out.unique = e.unique;
  if (e.not_before) out.not_before = e.not_before;
  return out;
}

/** A task priority: the lane of its queue it waits in. */
export type Priority = "high" | "normal" | "low";

/** The envelope's priority of a priority option: "high", "low", or "" for normal; throws BadOption for another. */
export function checkPriority(p: unknown): "" | "high" | "low" {
  if (p === undefined || p === null || p === "" || p === "normal") return "";
  if (p === "high" || p === "low") return p;
  throw new BadOption(`priority: want one of high, normal, low, got ${JSON.stringify(p)}`);
}

/** A flow key: one subject token of 1–128 of A–Z a–z 0–9 _ = -. */
export function checkKey(key: unknown): string {
  if (typeof key !== "string" || !/^[A-Za-z0-9_=-]{1,128}$/.test(key)) {
    throw new BadOption(`key: want 1-128 of A-Z a-z 0-9 _ = -, got ${JSON.stringify(key)}`);
  }
  return key;
}

/**
 * The cancellation record a canceller writes for the task env of queue
 * (docs/protocol.md, "Cancelling"), in strand's Go key order.
 */
export function cancellation(env: Pick<Envelope, "func" | "created" | "meta">, queue: string, finished: number, reason = "cancelled by caller"): Outcome {
  const func = env.func ?? "";
  const rec: Outcome = { status: "cancelled" };
  if (func) rec.func = func;
  rec.queue = queue;
  if (env.created) rec.created = env.created;
  if (env.meta && Object.keys(env.meta).length > 0) rec.meta = env.meta;
  rec.error = { kind: "cancelled", message: `${func}: ${reason}` };
  rec.finished = finished;
  return rec;
}

/**
 * Reads a cancellation record as the protocol says: cancelled, error kind
 * cancelled, no result, whatever it holds (only workers write outcomes).
 */
export function asCancelled(rec: Outcome): Outcome {
  const out: Outcome = { ...rec, status: "cancelled" };
  delete out.result;
  if (out.error?.kind !== "cancelled") out.error = { kind: "cancelled", message: "cancelled by caller" };
  return out;
}

/**
 * Decodes an outcome record, or a cancellation (kind c: it reads as
 * cancelled), stored on subject (or its event's); the queue comes from the
 * subject when the record lacks it. seq, the stream sequence, is kept as
 * a non-enumerable property.
 */
export function readOutcome(codec: Codec, subject: string, data: Uint8Array, seq = 0): Outcome {
  const { kind, queue } = parseSubject(subject);
  let o = codec.record<Outcome>(data);
  if (kind === "c") o = asCancelled(o);
  o.queue ??= queue;
  Object.defineProperty(o, "seq", { value: seq, enumerable: false });
  return o;
}

/** Milliseconds of a Nats-TTL header: a number of seconds or a Go duration string; NaN if neither. */
export function ttlMs(s: string | undefined): number {
  if (!s) return NaN;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const unit: Record<string, number> = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6 };
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
  let ms = 0;
  let at = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    ms += Number(m[1]) * unit[m[2]];
    at = re.lastIndex;
  }
  return at === s.length && at > 0 ? ms : NaN;
}

/** A duration in ms as Go's time.Duration prints it (336h0m0s, 1m30s, 1.5s, 500ms), as strand's Go writer sends Nats-TTL. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = `${(ms % 60_000) / 1000}s`;
  if (h) return `${h}h${m}m${sec}`;
  if (m) return `${m}m${sec}`;
  return sec;
}

/** TTL bounds: the server's minimum per-message TTL, and the longest result TTL a worker keeps. */
export const MIN_TTL_MS = 1000;
export const MAX_RESULT_TTL_MS = 365 * 24 * 3600 * 1000;

/** A result TTL from the wire bounded as a worker bounds it; 0 or less means def. */
export function clampResultTTL(ms: number | undefined, def: number): number {
  if (!ms || ms <= 0) return def;
  return Math.min(Math.max(ms, MIN_TTL_MS), MAX_RESULT_TTL_MS);
}

/**
 * The Nats-Schedule header of a task delayed until ms (unix ms): `@at` and
 * the time in UTC, whole seconds, rounded up, so that it never runs early.
 */
export function scheduleAt(ms: number): string {
  const up = Math.ceil(ms / 1000) * 1000;
  return "@at " + new Date(up).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The time (unix ms) of an `@at` Nats-Schedule header; undefined if it is not one. */
export function parseScheduleAt(header: string | undefined): number | undefined {
  const m = /^@at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.exec(header ?? "");
  if (!m) return undefined;
  const t = Date.parse(m[1]);
  return Number.isFinite(t) ? t : undefined;
}

const SCHEDULE_NAME_RE = /^[A-Za-z0-9_=-]{1,100}$/;
const MACROS: Record<string, string> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
};

/** name if it can name a schedule (1–100 of A–Z a–z 0–9 _ = -); else BadOption. */
export function checkScheduleName(name: unknown): string {
  if (typeof name !== "string" || !SCHEDULE_NAME_RE.test(name)) {
    throw new BadOption(`bad schedule name ${JSON.stringify(name)}: want 1-100 characters of A-Z a-z 0-9 _ = -`);
  }
  return name;
}

/**
 * The Nats-Schedule header of a named schedule's spec, as strand's Go
 * writer makes it, and for `@every` its interval in ms: `@every` a Go
 * duration of at least 1 s (no time zone), a 5-field cron expression with
 * `0` seconds put first, a 6-field one as it is, or a macro (@hourly,
 * @daily, @weekly, @monthly, @yearly). The server checks the fields.
 */
export function schedulePattern(spec: string, tz = ""): { pattern: string; everyMs?: number } {
  if (typeof spec !== "string" || spec.trim() === "") throw new BadOption("schedule spec: empty");
  spec = spec.trim();
  if (spec.startsWith("@every ")) {
    const text = spec.slice("@every ".length).trim();
    const d = /^\d+$/.test(text) ? NaN : ttlMs(text); // Go's durations need a unit
    if (!Number.isFinite(d)) throw new BadOption(`schedule spec ${JSON.stringify(spec)}: want @every and a Go duration (30s, 5m, 1h30m)`);
    if (d < 1000) throw new BadOption(`schedule spec ${JSON.stringify(spec)}: the interval must be at least 1s`);
    if (tz) throw new BadOption(`schedule spec ${JSON.stringify(spec)}: an interval takes no time zone (${tz})`);
    return { pattern: "@every " + goDuration(Math.round(d)), everyMs: d };
  }
  if (tz === "Local") throw new BadOption(`time zone "Local": name an IANA zone such as Europe/Paris (the server fires the schedule)`);
  const f = (MACROS[spec] ?? spec).split(/\s+/);
  if (f.length === 5) f.unshift("0");
  if (f.length !== 6) {
    throw new BadOption(`cron spec ${JSON.stringify(spec)}: want 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got ${f.length}`);
  }
  return { pattern: f.join(" ") };
}
