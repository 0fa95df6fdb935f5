// Delayed tasks (at, after) against a real `strand dev`: the server keeps
// them in its schedules stream until their time (docs/protocol.md,
// "Delayed tasks and schedules"). No tight timing: a task is checked not
// to run before its time by its outcome's start, and to run eventually by
// a generous wait.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import * as s from "../dist/index.js";
import { sleep, startDev } from "./helpers.mjs";

let dev;
let c;
let n = 0;
const uid = (what) => `ts-${what}-${process.pid}-${++n}`;

before(async () => {
  dev = await startDev();
  c = await s.connect(dev.url);
});
after(async () => {
  await c?.close();
  await dev?.stop();
});

describe("delayed tasks", () => {
  test("after: scheduled, not run before its time, then completed (msgpack and JSON)", async () => {
    for (const json of [false, true]) {
      const asked = Date.now() + 2000;
      const h = await c.submit("add", [2, 3], { after: 2000, json });
      assert.ok(h.runAt && h.runAt.getTime() >= Math.floor(asked / 1000) * 1000, `runAt ${h.runAt}`);
      assert.equal(h.runAt.getMilliseconds(), 0);
      assert.equal(await h.status(), "scheduled");
      const info = await h.metadata;
      assert.equal(info.status, "scheduled");
      assert.equal(info.runAt?.getTime(), h.runAt.getTime());
      assert.equal(await h.isReady(), false);
      assert.equal(await h.result({ timeout: 60_000 }), 5); // waits through the delay, pushed
      const o = await h.outcome();
      assert.equal(o.status, "completed");
      assert.ok(o.started >= asked, `ran at ${o.started}, before its time ${asked}`);
      assert.equal(await h.status(), "completed");
    }
  });

  test("at: open from its schedule, the id taken, cancelled while scheduled and never run", async () => {
    const id = uid("at");
    const h = await c.submit("add", [1, 2], { id, at: new Date(Date.now() + 4000), meta: { user: "ann" } });
    const o = c.open(id); // the queue found from the schedule
    assert.equal(await o.status(), "scheduled");
    assert.equal(o.queue, "default");
    const info = await o.metadata;
    assert.equal(info.func, "add");
    assert.deepEqual(info.meta, { user: "ann" });
    assert.equal(o.runAt?.getTime(), h.runAt.getTime());
    for (const opts of [{ id, after: 10_000 }, { id }]) {
      const err = await c.submit("add", [1, 2], opts).catch((e) => e);
      assert.ok(err instanceof s.DuplicateError, `${JSON.stringify(opts)}: ${err}`);
      assert.equal(err.handle.id, id);
    }
    await o.cancel();
    assert.equal(await h.status(), "cancelled");
    await assert.rejects(h.result({ timeout: 5000 }), s.Cancelled);
    await assert.rejects(h.cancel(), s.FinishedError);
    // Past its time: still no worker's outcome, nothing due or queued.
    await sleep(Math.max(0, h.runAt.getTime() - Date.now()) + 3000);
    const nm = c.names;
    assert.equal(await c.record(nm.key("r", "default", id)), null, "a cancelled task ran");
    assert.equal(await c.get(nm.schedulesStream, nm.sched("due", "default", id)), null);
    assert.equal(await c.get(nm.tasksStream, nm.task("default", id)), null);
    assert.equal(await h.status(), "cancelled");
  });

  test("the stored schedule is what strand's Go writer publishes", async () => {
    const id = uid("wire");
    const h = await c.submit("add", [2, 3], { queue: "nobody", id, after: 600_000, taskTtl: 3_600_000, timeout: 5000 });
    const subject = `strand.sched.at.nobody.${id}`;
    const rec = await c.get(c.names.schedulesStream, subject);
    assert.ok(rec);
    const hd = rec.header;
    assert.equal(hd.get("Nats-Schedule"), "@at " + h.runAt.toISOString().replace(".000Z", "Z"));
    assert.equal(hd.get("Nats-Schedule-Target"), `strand.sched.fire.nobody.due.${id}`);
    assert.equal(hd.get("Nats-Schedule-TTL"), "1h0m0s");
    assert.equal(hd.get("Strand-Task-TTL"), "1h0m0s");
    assert.equal(hd.get("Content-Type"), "application/msgpack");
    assert.equal(hd.get("Strand-Func"), "add");
    assert.equal(hd.get("Strand-Own-Id"), "1");
    const env = c.codec.decode(rec.data, "msgpack");
    assert.deepEqual(env, { v: 2, id, func: "add", args: [2, 3], queue: "nobody", created: env.created, timeout_ms: 5000 });
    assert.equal(Buffer.compare(Buffer.from(rec.data), Buffer.from(c.codec.encode(s.envelope(env), "msgpack", "test"))), 0, "the envelope, byte for byte");
    await h.cancel();
    assert.equal(await c.get(c.names.schedulesStream, subject), null);
    // A task queued at once carries the task TTL as the Go writer writes it.
    const now = await c.submit("add", [2, 3], { queue: "nobody" });
    const t = await c.get(c.names.tasksStream, c.names.task("nobody", now.id));
    assert.equal(t.header.get("Nats-TTL"), "336h0m0s");
    await now.cancel();
  });

  test("refusals, and times not in the future run at once", async () => {
    const now = Date.now();
    await assert.rejects(c.submit("add", [1, 2], { at: new Date(now + 5000), after: 5000 }), /not both/);
    await assert.rejects(c.submit("add", [1, 2], { after: 120_000, taskTtl: 60_000 }), (e) => e instanceof s.BadOption && /beyond the task TTL/.test(e.message));
    await assert.rejects(c.submit("add", [1, 2], { after: 15 * 24 * 3600 * 1000 }), /beyond the task TTL/);
    await assert.rejects(c.submit("add", [1, 2], { at: now + 5000 }), (e) => e instanceof s.BadOption && /valid Date/.test(e.message));
    await assert.rejects(c.submit("add", [1, 2], { at: new Date("nonsense") }), /valid Date/);
    await assert.rejects(c.submit("add", [1, 2], { after: "5s" }), (e) => e instanceof s.BadOption && /number of ms/.test(e.message));
    // A task TTL of its own lets a longer delay through.
    const long = await c.submit("add", [1, 2], { queue: "nobody", after: 120_000, taskTtl: 300_000 });
    assert.equal(await long.status(), "scheduled");
    await long.cancel();
    for (const opts of [{ at: new Date(now - 300_000) }, { after: -5000 }, { after: 0 }]) {
      const h = await c.submit("add", [2, 3], opts);
      assert.equal(h.runAt, undefined);
      assert.notEqual(await h.status(), "scheduled");
      assert.equal(await h.result({ timeout: 20_000 }), 5);
    }
  });
});
