// Handle: the caller's hold on one task, in the shape of the original
// strand's handle (status, is_ready, result, cancel, metadata, items and
// progress with callbacks). Waiting is pushed by the server's events;
// nothing polls.

import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";

import type { Client } from "./client.js";
import { BadOption, ClosedError, StrandError, taskError, transient, WaitTimeout } from "./errors.js";
import { formatOf, isMarker, parseSubject, sniff, type ErrorInfo, type Outcome, type Progress, type State, type Status } from "./wire.js";

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

const date = (ms: number | undefined): Date | undefined => (ms ? new Date(Number(ms)) : undefined);

// defined copies the fields of from that are set into to.
function defined(to: TaskInfo, from: Partial<TaskInfo>): void {
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && v !== null) (to as unknown as Record<string, unknown>)[k] = v;
  }
}

/**
 * A handle to one task: `status()`, `isReady()`, `result()`, `cancel()`,
 * `metadata`, `items()`, `progress()`. `Client.submit` returns one;
 * `Client.open(id)` rebuilds one in any process. R is the result's type.
 */
export class Handle<R = unknown> {
  /** The task's id. */
  readonly id: string;
  readonly #c: Client;
  #queue?: string;
  #func?: string;
  #runAt?: number;

  /** @internal Use Client.submit or Client.open. */
  constructor(client: Client, id: string, queue?: string, func?: string, runAt?: number) {
    this.#c = client;
    this.id = id;
    this.#queue = queue;
    this.#func = func;
    this.#runAt = runAt;
  }

  /** When a delayed task is to run (whole seconds; submitted with `at` or `after`), undefined for one that runs at once; for a handle from open, known once a read found it scheduled. */
  get runAt(): Date | undefined {
    return this.#runAt === undefined ? undefined : new Date(this.#runAt);
  }

  /** The task's queue, once known: always for a handle from submit, for one from open once any record of the task was read. */
  get queue(): string | undefined {
    return this.#queue;
  }

  /** The task's function name, once known. */
  get func(): string | undefined {
    return this.#func;
  }

  async #located(): Promise<string | undefined> {
    this.#queue ??= await this.#c.locate(this.id);
    return this.#queue;
  }

  /** The task's status now, read in the protocol's order: its outcome, else its state, else its queued task, else its schedule (`scheduled` while delayed); `unknown` when none exists. */
  async status(): Promise<Status> {
    return (await this.info()).status;
  }

  /** Whether the task has ended (completed, failed, cancelled or dead). */
  async isReady(): Promise<boolean> {
    return (await this.outcome()) !== null;
  }

  /** The task's outcome record without waiting: null while it has none. */
  async outcome(): Promise<Outcome | null> {
    const q = await this.#located();
    return q ? this.#c.outcome(q, this.id) : null;
  }

  /** The task's status, function, queue, times, worker, attempt, progress and metadata (`await handle.metadata`). */
  get metadata(): Promise<TaskInfo> {
    return this.info();
  }

  /** What is known of the task now: TaskInfo. */
  async info(): Promise<TaskInfo> {
    const info: TaskInfo = { id: this.id, status: "unknown" };
    defined(info, { queue: this.#queue, func: this.#func });
    const l = await this.#c.look(this.#queue, this.id);
    if (!l) return info;
    this.#queue ??= l.queue;
    info.queue = l.queue;
    if (l.outcome) {
      const o = l.outcome;
      defined(info, {
        status: o.status,
        attempt: o.attempt,
        worker: o.worker,
        created: date(o.created),
        started: date(o.started),
        finished: date(o.finished),
        error: o.error,
        meta: o.meta,
        items: o.items,
      });
      if (o.func) info.func = this.#func = o.func;
    } else if (l.task) {
      info.status = l.scheduled ? "scheduled" : "pending";
      info.func = this.#func = l.task.func;
      if (l.scheduled && l.runAt !== undefined) this.#runAt = l.runAt;
      defined(info, { created: date(l.task.created), meta: l.task.meta, runAt: l.scheduled ? date(l.runAt) : undefined });
      const s = l.state;
      if (s) {
        defined(info, {
          status: s.status,
          attempt: s.attempt,
          worker: s.worker,
          started: date(s.started),
          progress: s.progress,
          nextAttempt: date(s.next_attempt),
          error: s.last_error,
        });
      }
    }
    return info;
  }

  /**
   * Waits for the task's outcome and returns the record, whatever its
   * status. Push: it subscribes to the task's events, reads the outcome
   * once (the task may have ended already), then takes the first outcome
   * or cancellation event; after a reconnect it reads again. Rejects with
   * WaitTimeout after `timeout` ms.
   */
  wait(opts: WaitOptions = {}): Promise<Outcome> {
    return opts.onProgress ? this.watchProgress(opts.onProgress, opts) : this.#wait(opts);
  }

  /**
   * Waits for the task to end and returns its result. A task that did not
   * complete throws its error: a TaskError of the class of its kind
   * (TaskFailed, Timeout, Cancelled, UnknownFunc, BadArgs, …). WaitTimeout
   * if `timeout` ms pass first.
   */
  async result(opts: WaitOptions = {}): Promise<R> {
    const o = await this.wait(opts);
    if (o.status !== "completed") throw taskError(this.id, o);
    return (o.result ?? null) as R;
  }

  /**
   * Cancels the task: a queued one never runs, a running one has its
   * context cancelled on its worker; it ends `cancelled` at once and
   * durably. Throws FinishedError if it had ended, NotFoundError if nothing
   * of it is left.
   */
  async cancel(): Promise<void> {
    await this.#c.cancel(this.#queue, this.id);
  }

  /** The task's last progress report: null while it has reported none (or once its state is gone). */
  async progress(): Promise<Progress | null> {
    const q = await this.#located();
    const s = q ? await this.#c.state(q, this.id) : null;
    return s?.progress ?? null;
  }

  /**
   * Calls fn with each progress report of the task, live (the last one
   * stored first, if any), until the task ends; returns its outcome, as
   * wait does. The worker sends at most one report every 100 ms; what fn
   * throws is ignored.
   */
  async watchProgress(fn: (p: Progress) => void, opts: WaitOptions = {}): Promise<Outcome> {
    let lastSeq = 0;
    let last = "";
    const report = (p: Progress | undefined, seq: number) => {
      if (!p || (seq && seq <= lastSeq)) return;
      if (seq) lastSeq = seq;
      const key = JSON.stringify(p);
      if (key === last) return;
      last = key;
      try {
        fn(p);
      } catch {
        // the caller's callback: its errors are not the wait's
      }
    };
    let ready = false;
    const early: Array<[State, number]> = [];
    const waiting = this.#wait(opts, (s, seq) => (ready ? report(s.progress, seq) : early.push([s, seq])));
    try {
      const q = await this.#located();
      const rec = q ? await this.#c.record(this.#c.names.key("s", q, this.id)) : null;
      if (rec) report(this.#c.codec.record<State>(rec.data).progress, rec.seq);
    } catch {
      // the live reports still come
    }
    for (const [s, seq] of early) report(s.progress, seq);
    ready = true;
    return waiting;
  }

  /**
   * The task's streamed items (a handler returning an iterator), decoded,
   * as they are produced, from the first one however late the caller
   * attaches. It ends after the last item; a task that failed throws its
   * TaskError after the items it produced. A task that streams nothing
   * ends the iteration when its outcome is written. `timeout` bounds the
   * whole iteration (WaitTimeout). Items of a retried task start again at
   * the first with each attempt.
   */
  async *items(opts: WaitOptions = {}): AsyncGenerator<unknown, void, undefined> {
    const c = this.#c;
    const q = (await this.#located()) ?? this.#queue ?? "default";
    const subject = c.names.items(q, this.id);
    let msgs;
    try {
      const consumer = await c.js.consumers.get(c.names.itemsStream, { filter_subjects: [subject], deliver_policy: DeliverPolicy.All });
      msgs = await consumer.consume();
    } catch (err) {
      throw new StrandError("wire", `task ${this.id}: read items: ${(err as Error).message}`, { cause: err });
    }
    const stop = new AbortController();
    const relay = () => stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", relay, { once: true });
    if (opts.signal?.aborted) relay();
    const ended = this.#wait({ timeout: opts.timeout, signal: stop.signal });
    ended.catch(() => {}); // read below
    type Ev = { msg: IteratorResult<JsMsg> } | { readErr: unknown } | { outcome?: Outcome; err?: unknown };
    const outcomeEv: Promise<Ev> = ended.then(
      (outcome) => ({ outcome }),
      (err) => ({ err }),
    );
    const it = msgs[Symbol.asyncIterator]();
    // Each read becomes an event that never rejects: a read still open
    // when the loop ends must not reject with nobody to hear it.
    const read = (): Promise<Ev> => it.next().then((msg) => ({ msg }), (readErr) => ({ readErr }));
    let next = read();
    let seen = 0; // stream sequence of the last message read
    let stopAt = -1; // the outcome is known and no end marker is stored: stop after this sequence
    let final: StrandError | undefined; // thrown at stopAt
    let outcomeKnown = false;
    try {
      for (;;) {
        const ev: Ev = await Promise.race(outcomeKnown ? [next] : [next, outcomeEv]);
        if ("readErr" in ev) {
          throw new StrandError("wire", `task ${this.id}: read items: ${(ev.readErr as Error)?.message}`, { cause: ev.readErr });
        }
        if (!("msg" in ev)) {
          outcomeKnown = true;
          if (ev.err) throw ev.err;
          const last = await c.lastItem(q, this.id);
          if (last.end) continue; // the end marker is on its way
          const o = ev.outcome!;
          stopAt = last.seq;
          final = o.status === "completed" ? undefined : taskError(this.id, o);
          if (seen >= stopAt) break;
          continue;
        }
        if (ev.msg.done) throw new ClosedError(`task ${this.id}: items: the connection closed`);
        const m = ev.msg.value;
        seen = m.seq;
        next = read();
        const h = m.headers;
        if (h?.get("Strand-End")) {
          if (h.get("Strand-Error-Kind")) {
            // The outcome follows the end marker: throw the task's own error.
            let o: Outcome;
            try {
              o = await ended;
            } catch {
              o = { status: "failed", error: { kind: h.get("Strand-Error-Kind"), message: h.get("Strand-Error") } };
            }
            final = taskError(this.id, o);
          }
          break;
        }
        const f = formatOf(h?.get("Content-Type")) ?? sniff(m.data);
        yield c.codec.decode(m.data, f);
        if (stopAt >= 0 && seen >= stopAt) break;
      }
      if (final) throw final;
    } finally {
      opts.signal?.removeEventListener("abort", relay);
      stop.abort();
      await msgs.close().catch(() => {});
    }
  }

  /**
   * The original strand's callbacks: onItem for each item as it comes,
   * then onEnd with the outcome of a completed task, or onError with the
   * error of one that did not complete (or of the wait). Resolves with the
   * outcome when the task completed; on an error, resolves undefined when
   * onError is given, else rejects.
   */
  async stream(cb: StreamCallbacks, opts: WaitOptions = {}): Promise<Outcome | undefined> {
    const deadline = opts.timeout === undefined ? undefined : Date.now() + opts.timeout;
    try {
      let n = 0;
      for await (const item of this.items(opts)) cb.onItem?.(item, n++);
      const timeout = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
      const o = await this.#wait({ ...opts, timeout });
      if (o.status !== "completed") throw taskError(this.id, o);
      cb.onEnd?.(o);
      return o;
    } catch (err) {
      if (!cb.onError) throw err;
      cb.onError(err);
      return undefined;
    }
  }

  // #wait is wait with onState, called with each state record's event
  // (and its sequence) while waiting.
  async #wait({ timeout, signal }: WaitOptions, onState?: (s: State, seq: number) => void): Promise<Outcome> {
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0))) {
      throw new BadOption(`task ${this.id}: timeout must be a number of ms ≥ 0, got ${String(timeout)}`);
    }
    const c = this.#c;
    if (c.closed) throw new ClosedError();
    let q = this.#queue;
    // A task of unknown queue (nothing of it exists yet: it may be on its
    // way) is followed in every queue.
    const sub = c.nc.subscribe(q ? c.names.events(q, this.id) : `${c.names.prefix}.evt.*.*.${this.id}`);
    return new Promise<Outcome>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: unknown, o?: Outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unwatch();
        signal?.removeEventListener("abort", onAbort);
        sub.unsubscribe();
        if (err) reject(err);
        else resolve(o!);
      };
      const onAbort = () => finish(signal?.reason instanceof Error ? signal.reason : new ClosedError(`task ${this.id}: wait aborted`));
      if (timeout !== undefined) timer = setTimeout(() => finish(new WaitTimeout(this.id, timeout)), timeout);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();

      // read reads the outcome (once the subscription is live): the task
      // may have ended before it, or while the connection was down. Reads
      // that fail for want of a server are tried again until the wait ends.
      let reading = false;
      let again = false;
      const read = async () => {
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          for (let pause = 100; !done; pause = Math.min(2 * pause, 1000)) {
            again = false;
            try {
              await c.nc.flush();
              q ??= await c.locate(this.id);
              if (q) {
                this.#queue ??= q;
                const o = await c.outcome(q, this.id);
                if (o) return finish(undefined, o);
              }
              if (!again) return;
            } catch (err) {
              if (c.closed) return finish(new ClosedError());
              const wire = err instanceof StrandError ? err.kind === "wire" || err.kind === "unavailable" : transient(err);
              if (!wire) return finish(err);
              await new Promise((r) => setTimeout(r, pause));
            }
          }
        } finally {
          reading = false;
        }
      };
      const unwatch = c.onReconnect(() => void read());

      const follow = async () => {
        for await (const m of sub) {
          if (done) return;
          const { kind, queue } = parseSubject(m.subject);
          if (isMarker(m.data, m.headers)) continue;
          const seq = Number(m.headers?.get("Nats-Sequence") || 0);
          if (kind === "s") {
            if (onState) {
              try {
                onState(c.codec.record<State>(m.data), seq);
              } catch {
                // a state that does not decode carries no progress
              }
            }
            continue;
          }
          if (kind !== "r" && kind !== "c") continue;
          this.#queue ??= queue;
          try {
            finish(undefined, c.decodeOutcome(m.subject, m.data, seq));
          } catch (err) {
            finish(new StrandError("decode", `task ${this.id}: ${(err as Error).message}`, { cause: err }));
          }
          return;
        }
        finish(new ClosedError(`task ${this.id}: the connection closed while waiting`));
      };
      void (async () => {
        try {
          await follow();
        } catch (err) {
          // the subscription failed (a permission refused, say)
          finish(new StrandError("wire", `task ${this.id}: events: ${(err as Error)?.message}`, { cause: err }));
        }
      })();
      void read();
    });
  }
}
