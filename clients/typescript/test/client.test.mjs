// The client against a real `strand dev` (its server and its worker of the
// demo functions add, echo, sleep, fail, count, work, scaled_add on queue
// default), started by this file on a free port with a temp data dir.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

import * as s from "../dist/index.js";
import { eventually, sleep, startDev } from "./helpers.mjs";

let dev;
let c;
let n = 0;
const uid = (what) => `${what}-${process.pid}-${++n}`;

before(async () => {
  dev = await startDev();
  c = await s.connect(dev.url);
});
after(async () => {
  await c?.close();
  await dev?.stop();
});

describe("round trip", () => {
  test("add(2, 3) is 5, in msgpack and in JSON", async () => {
    for (const json of [false, true]) {
      const h = await c.submit("add", [2, 3], { json });
      assert.equal(h.queue, "default");
      assert.match(h.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(await h.result({ timeout: 20_000 }), 5);
      assert.equal(await h.status(), "completed");
      assert.equal(await h.isReady(), true);
    }
  });

  test("args and kwargs: scaled_add(2, 3, scale=10) is 50, in both formats", async () => {
    for (const json of [false, true]) {
      const h = await c.submit("scaled_add", [2, 3], { kwargs: { scale: 10 }, json });
      assert.equal(await h.result({ timeout: 20_000 }), 50);
    }
  });

  test("nested values travel unchanged, in both formats", async () => {
    const v = { a: [1, "x", null, true, 2.5, -7], b: { c: "h\u00e9llo \u2713" }, big: 2 ** 53 - 1, e: [] };
    for (const json of [false, true]) {
      const h = await c.submit("echo", [v], { json });
      assert.deepEqual(await h.result({ timeout: 20_000 }), v);
    }
  });

  test("options and metadata: meta, timeout, max attempts and result TTL reach the task", async () => {
    const h = await c.submit("add", [1, 2], { meta: { user: "ann" }, timeout: 5000, maxAttempts: 2, resultTtl: 60_000 });
    const o = await h.wait({ timeout: 20_000 });
    assert.equal(o.status, "completed");
    assert.equal(o.result, 3);
    const info = await h.metadata;
    assert.equal(info.status, "completed");
    assert.equal(info.func, "add");
    assert.equal(info.queue, "default");
    assert.equal(info.attempt, 1);
    assert.deepEqual(info.meta, { user: "ann" });
    assert.ok(info.finished instanceof Date && info.worker);
  });

  test("many tasks at once, each result to its own handle", async () => {
    const hs = await Promise.all(Array.from({ length: 200 }, (_, i) => c.submit("add", [i, i], { json: i % 2 === 1 })));
    const rs = await Promise.all(hs.map((h) => h.result({ timeout: 60_000 })));
    assert.deepEqual(rs, Array.from({ length: 200 }, (_, i) => 2 * i));
  });

  test("a typed task submitter", async () => {
    const add = c.task("add");
    assert.equal(add.func, "add");
    assert.equal(await (await add(20, 22)).result({ timeout: 20_000 }), 42);
    const scaled = c.task("scaled_add", { json: true });
    assert.equal(await (await scaled.submit([1, 1], { kwargs: { scale: 3 } })).result({ timeout: 20_000 }), 6);
  });
});

describe("errors", () => {
  test("an unknown function throws UnknownFunc", async () => {
    const h = await c.submit("nosuch", [1]);
    const err = await h.result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.UnknownFunc, String(err));
    assert.ok(err instanceof s.TaskError);
    assert.equal(err.kind, "unknown_func");
    assert.equal(err.status, "failed");
    assert.match(err.message, /nosuch: unknown function/);
    assert.equal(await h.status(), "failed");
  });

  test("bad args throw BadArgs, ill-typed kwargs too", async () => {
    let err = await (await c.submit("add", ["x", 1])).result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.BadArgs, String(err));
    assert.match(err.message, /add: arg 1: want int, got string "x"/);
    err = await (await c.submit("add", [1, 2], { kwargs: { scale: 2 } })).result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.BadArgs, String(err));
  });

  test("a handler's error throws TaskFailed", async () => {
    const err = await (await c.submit("fail", ["boom"], { json: true })).result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.TaskFailed, String(err));
    assert.equal(err.message, "fail: boom");
  });

  test("a task that fails every attempt reads retrying, then dead, and throws TaskFailed", async () => {
    const h = await c.submit("fail", ["again"], { maxAttempts: 2 });
    const info = await eventually(async () => {
      const i = await h.info();
      return i.status === "retrying" && i;
    }, 20_000, "retrying");
    assert.equal(info.error.kind, "error");
    assert.ok(info.nextAttempt instanceof Date);
    const err = await h.result({ timeout: 30_000 }).catch((e) => e);
    assert.ok(err instanceof s.TaskFailed, String(err));
    assert.equal(err.status, "dead");
    assert.equal(err.outcome.attempt, 2);
    assert.equal(await h.status(), "dead");
  });

  test("a task past its timeout throws Timeout", async () => {
    const h = await c.submit("sleep", [10_000], { timeout: 300 });
    const err = await h.result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.Timeout, String(err));
    assert.equal(err.kind, "timeout");
    assert.match(err.message, /sleep: timed out after 300ms/);
  });

  test("a wait past the caller's timeout throws WaitTimeout, and the task goes on", async () => {
    const h = await c.submit("sleep", [800]);
    const err = await h.result({ timeout: 100 }).catch((e) => e);
    assert.ok(err instanceof s.WaitTimeout, String(err));
    assert.ok(!(err instanceof s.TaskError));
    assert.equal(await h.result({ timeout: 20_000 }), null);
  });

  test("an aborted wait rejects with the signal's reason", async () => {
    const h = await c.submit("sleep", [500]);
    const ac = new AbortController();
    const waiting = h.result({ signal: ac.signal });
    ac.abort(new Error("enough"));
    await assert.rejects(waiting, /enough/);
  });

  test("bad input is refused before anything is sent", async () => {
    const refused = [
      () => c.submit("", [1]),
      () => c.submit("add", "2, 3"),
      () => c.submit("add", [1], { id: "no spaces" }),
      () => c.submit("add", [1], { queue: "a.b" }),
      () => c.submit("add", [1], { timeout: -1 }),
      () => c.submit("add", [1], { timeout: 1.5 }),
      () => c.submit("add", [1], { resultTtl: 500 }),
      () => c.submit("add", [1], { resultTtl: 366 * 24 * 3600 * 1000 }),
      () => c.submit("add", [1], { taskTtl: 10 }),
      () => c.submit("add", [1], { maxAttempts: -2 }),
      () => c.submit("add", [1], { meta: { n: 1 } }),
      () => c.submit("add", [1], { kwargs: [1] }),
      () => c.submit("add", [1], { priority: 3 }), // not a priority
      () => c.submit("add", [1], { at: Date.now() }),
      () => c.submit("add", [1], { fair: true }), // not supported (yet): refused, not dropped
      () => c.submit("add", [1], { key: "a.b" }),
      () => c.submit("echo", [NaN], { json: true }),
      () => c.submit("echo", [10n ** 30n], { json: true }),
      () => c.submit("echo", [1n]), // msgpack: bigint is not sent
    ];
    for (const f of refused) {
      await assert.rejects(f(), (e) => e instanceof s.BadOption, String(f));
    }
    assert.throws(() => c.open("bad id"), s.BadOption);
    const err = await c.submit("echo", ["x".repeat(2 * 1024 * 1024)]).catch((e) => e);
    assert.ok(err instanceof s.PayloadTooLarge, String(err));
  });
});

describe("ids", () => {
  test("a duplicate id is refused with a handle to the first task, while queued and once it has run", async () => {
    const id = uid("dup");
    const h = await c.submit("add", [1, 1], { id });
    assert.equal(h.id, id);
    assert.equal(await h.result({ timeout: 20_000 }), 2);
    const err = await c.submit("add", [5, 5], { id }).catch((e) => e);
    assert.ok(err instanceof s.DuplicateError, String(err));
    assert.equal(err.kind, "duplicate");
    assert.equal(err.id, id);
    assert.equal(await err.handle.result({ timeout: 20_000 }), 2, "the first task's result");

    // Queued where no worker runs: the server refuses the second publish.
    const qid = uid("dup-queued");
    await c.submit("add", [1, 1], { id: qid, queue: "nobody" });
    const err2 = await c.submit("add", [1, 1], { id: qid, queue: "nobody" }).catch((e) => e);
    assert.ok(err2 instanceof s.DuplicateError, String(err2));
    assert.equal(await err2.handle.status(), "pending");
    await err2.handle.cancel();
  });
});

describe("cancel", () => {
  test("a pending task: it never runs, reads cancelled, and a second cancel is refused", async () => {
    const h = await c.submit("add", [1, 1], { queue: "nobody", meta: { who: "me" } });
    assert.equal(await h.status(), "pending");
    assert.equal(await h.isReady(), false);
    await h.cancel();
    assert.equal(await h.status(), "cancelled");
    const err = await h.result({ timeout: 20_000 }).catch((e) => e);
    assert.ok(err instanceof s.Cancelled, String(err));
    assert.equal(err.message, "add: cancelled by caller");
    await assert.rejects(h.cancel(), s.FinishedError);
    await assert.rejects(c.open(uid("never")).cancel(), s.NotFoundError);
  });

  test("a running task: its handler stops, the waiter gets Cancelled at once", async () => {
    const h = await c.submit("sleep", [60_000], { json: true });
    await eventually(async () => (await h.status()) === "running", 20_000, "running");
    const waiting = h.result({ timeout: 20_000 }).catch((e) => e);
    await h.cancel();
    const err = await waiting;
    assert.ok(err instanceof s.Cancelled, String(err));
    assert.equal(await h.status(), "cancelled");
    const info = await h.info();
    assert.equal(info.error.kind, "cancelled");
    await assert.rejects(h.cancel(), s.FinishedError);
  });

  test("a finished task: cancel is refused and changes nothing", async () => {
    const h = await c.submit("add", [2, 2]);
    assert.equal(await h.result({ timeout: 20_000 }), 4);
    await assert.rejects(h.cancel(), (e) => e instanceof s.FinishedError && e.status === "completed");
    assert.equal(await h.status(), "completed");
  });
});

describe("streamed items and progress", () => {
  test("items come in order, as they are produced", async () => {
    const h = await c.submit("count", [20]); // one item every 50 ms
    const got = [];
    let readyAtFirst;
    for await (const it of h.items({ timeout: 30_000 })) {
      if (got.length === 0) readyAtFirst = await h.isReady();
      got.push(it);
    }
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(readyAtFirst, false, "the first item arrived while the task was still running");
    const o = await h.wait({ timeout: 20_000 });
    assert.equal(o.items, 20);
  });

  test("items from the start for a late reader, in JSON too, and through the callbacks", async () => {
    const h = await c.submit("count", [4], { json: true });
    await h.wait({ timeout: 20_000 });
    const got = [];
    for await (const it of h.items({ timeout: 20_000 })) got.push(it);
    assert.deepEqual(got, [0, 1, 2, 3]);
    const seen = [];
    let end;
    const o = await h.stream({ onItem: (it, i) => seen.push([i, it]), onEnd: (o) => (end = o) }, { timeout: 20_000 });
    assert.deepEqual(seen, [[0, 0], [1, 1], [2, 2], [3, 3]]);
    assert.equal(end.status, "completed");
    assert.equal(o.items, 4);
  });

  test("items of a task that fails or streams nothing end with its error", async () => {
    const h = await c.submit("count", [100]);
    const got = [];
    let err;
    try {
      for await (const it of h.items({ timeout: 30_000 })) {
        got.push(it);
        if (got.length === 3) await h.cancel();
      }
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof s.Cancelled, String(err));
    assert.deepEqual(got.slice(0, 3), [0, 1, 2]);
    assert.ok(got.length < 100);

    const plain = await c.submit("add", [1, 2]);
    const none = [];
    for await (const it of plain.items({ timeout: 20_000 })) none.push(it);
    assert.deepEqual(none, []);
    const bad = await c.submit("nosuch", []);
    await assert.rejects(async () => {
      for await (const _ of bad.items({ timeout: 20_000 }));
    }, s.UnknownFunc);
    let onError;
    assert.equal(await bad.stream({ onError: (e) => (onError = e) }, { timeout: 20_000 }), undefined);
    assert.ok(onError instanceof s.UnknownFunc);
  });

  test("progress: read, and followed live with a callback until the end", async () => {
    const h = await c.submit("work", [5, 150]);
    const reports = [];
    const o = await h.watchProgress((p) => reports.push(p), { timeout: 30_000 });
    assert.equal(o.status, "completed");
    assert.equal(o.result, "done 5 steps");
    assert.ok(reports.length >= 2, `reports: ${JSON.stringify(reports)}`);
    for (let i = 1; i < reports.length; i++) assert.ok(reports[i].done > reports[i - 1].done, "in order, no repeats");
    assert.deepEqual(reports.at(-1), { done: 5, total: 5, note: "step 5 of 5" });
    assert.deepEqual(await h.progress(), { done: 5, total: 5, note: "step 5 of 5" });

    // Steps longer than the worker's 100 ms between progress writes, so
    // that the last report is written (a report still held back when the
    // handler returns is dropped by the worker).
    const seen = [];
    assert.equal(await (await c.submit("work", [3, 150])).result({ timeout: 30_000, onProgress: (p) => seen.push(p.done) }), "done 3 steps");
    assert.equal(seen.at(-1), 3, `reports: ${seen}`);

    const running = await c.submit("work", [20, 100]);
    const p = await eventually(() => running.progress(), 20_000, "a progress report");
    assert.equal(p.total, 20);
    assert.equal((await running.info()).status, "running");
    await running.cancel();
  });
});

describe("open", () => {
  test("from another process, with and without the queue", async () => {
    const h = await c.submit("work", [3, 150], { meta: { from: "parent" } });
    const child = fileURLToPath(new URL("./open-child.mjs", import.meta.url));
    const run = (...args) =>
      new Promise((resolve, reject) =>
        execFile(process.execPath, [child, dev.url, ...args], { timeout: 60_000 }, (err, out, errOut) =>
          err ? reject(new Error(`${err.message}: ${errOut}`)) : resolve(JSON.parse(out)),
        ),
      );
    const [a, b] = await Promise.all([run(h.id), run(h.id, "default")]);
    for (const got of [a, b]) {
      assert.equal(got.result, "done 3 steps");
      assert.equal(got.status, "completed");
      assert.equal(got.queue, "default");
      assert.deepEqual(got.meta, { from: "parent" });
    }
    const unknown = await run(uid("never"), "", "status");
    assert.equal(unknown.status, "unknown");
  });

  test("a handle opened before its task exists waits for it", async () => {
    const id = uid("early");
    const h = c.open(id);
    assert.equal(await h.status(), "unknown");
    const waiting = h.result({ timeout: 20_000 });
    await sleep(100);
    await c.submit("add", [3, 4], { id });
    assert.equal(await waiting, 7);
    assert.equal(h.queue, "default");
  });
});

describe("close", () => {
  test("a wait in progress rejects with ClosedError when its client closes", async () => {
    const other = await s.connect(dev.url);
    const h = await other.submit("add", [1, 1], { queue: "nobody" });
    const waiting = h.result().catch((e) => e);
    await sleep(100);
    await other.close();
    assert.ok((await waiting) instanceof s.ClosedError);
    await assert.rejects(h.result(), s.ClosedError);
    await c.open(h.id).cancel();
  });
});

describe("lost events", () => {
  test("KV_STRAND electing a leader makes waiters read again, at once and a second later", async () => {
    // The old leader may have stored outcomes it never republished, and a
    // replica answering the read right after may lag (docs/protocol.md).
    const other = await s.connect(dev.url);
    let woken = 0;
    const stop = other.onReconnect(() => woken++);
    await other.nc.flush(); // its subscription to the advisory is the server's
    try {
      c.nc.publish(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${other.names.kvStream}`, "{}");
      await c.nc.flush();
      await eventually(() => woken >= 1, 5_000, "a read at the advisory");
      await eventually(() => woken >= 2, 5_000, "a read a second later");
    } finally {
      stop();
      await other.close();
    }
  });
});

describe("result TTL", () => {
  test("once the outcome expires the task reads unknown and its id is free again", async () => {
    const id = uid("ttl");
    const h = await c.submit("add", [1, 2], { id, resultTtl: 1000 });
    assert.equal(await h.result({ timeout: 20_000 }), 3);
    await assert.rejects(c.submit("add", [1, 2], { id }), s.DuplicateError);
    await eventually(async () => (await h.status()) === "unknown", 30_000, "expiry");
    assert.equal(await h.isReady(), false);
    assert.equal(await c.open(id).outcome(), null);
    await assert.rejects(h.cancel(), s.NotFoundError);
    const again = await c.submit("add", [2, 2], { id });
    assert.equal(await again.result({ timeout: 20_000 }), 4);
  });
});
