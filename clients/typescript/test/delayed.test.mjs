// Delayed tasks (at, after) against a real `strand dev`: the server keeps
// them in its schedules stream until their time (docs/protocol.md,
// "Delayed tasks and schedules"). No tight timing: a task is checked not
// to run before its time by its outcome's start, and to run eventually by
// a generous wait.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import * as s from "../dist/index.js";
import { eventually, sleep, startDev } from "./helpers.mjs";

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
      assert.equal(err.handle.runAt, undefined); // the refused submission's time is not the task's
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

describe("named schedules", () => {
  test("put, stored as the Go writer stores it, fired, listed, replaced into another queue, deleted", async () => {
    const name = uid("sched");
    await c.putSchedule(name, "@every 1s", "add", [1, 2], { meta: { user: "ann" } });
    const rec = await c.get(c.names.schedulesStream, `strand.sched.cron.default.${name}`);
    assert.ok(rec);
    const hd = rec.header;
    assert.equal(hd.get("Nats-Schedule"), "@every 1s");
    assert.equal(hd.get("Strand-Schedule"), "@every 1s");
    assert.equal(hd.get("Nats-Schedule-Target"), `strand.sched.fire.default.tick.${name}`);
    assert.equal(hd.get("Nats-Schedule-TTL"), "336h0m0s");
    assert.equal(hd.get("Strand-Task-TTL"), "336h0m0s");
    assert.deepEqual(c.codec.decode(rec.data, "msgpack"), { v: 2, id: name, func: "add", args: [1, 2], queue: "default", meta: { user: "ann" } });
    let info = await c.getSchedule(name);
    assert.deepEqual([info.name, info.queue, info.func, info.spec, info.paused], [name, "default", "add", "@every 1s", false]);
    assert.deepEqual(info.args, [1, 2]);
    assert.ok(info.nextRun instanceof Date);
    assert.ok((await c.schedules()).some((x) => x.name === name));

    info = await eventually(async () => {
      const i = await c.getSchedule(name);
      return i.lastTask ? i : null;
    }, 60_000, "a firing queued");
    assert.ok(info.lastTask.startsWith(`${name}-`) && info.lastRun instanceof Date);
    const h = c.open(info.lastTask);
    assert.equal(await h.result({ timeout: 30_000 }), 3);
    assert.equal((await h.metadata).meta?.schedule, name);

    await c.putSchedule(name, "0 9 * * mon-fri", "add", [5, 6], { queue: "nobody", tz: "Europe/Paris" });
    info = await c.getSchedule(name);
    assert.deepEqual([info.queue, info.spec, info.tz], ["nobody", "0 9 * * mon-fri", "Europe/Paris"]);
    const moved = await c.get(c.names.schedulesStream, `strand.sched.cron.nobody.${name}`);
    assert.equal(moved.header.get("Nats-Schedule"), "0 0 9 * * mon-fri");
    assert.equal(moved.header.get("Nats-Schedule-Time-Zone"), "Europe/Paris");
    assert.equal(await c.get(c.names.schedulesStream, `strand.sched.cron.default.${name}`), null);
    assert.deepEqual((await c.schedules()).filter((x) => x.name === name).map((x) => x.queue), ["nobody"]);

    await c.deleteSchedule(name);
    await assert.rejects(c.getSchedule(name), s.NotFoundError);
    await assert.rejects(c.deleteSchedule(name), s.NotFoundError);
    assert.ok(!(await c.schedules()).some((x) => x.name === name));
  });

  test("refusals store nothing", async () => {
    const name = uid("bad");
    const cases = [
      ["@every 500ms", "", /at least 1s/],
      ["@every soon", "", /Go duration/],
      ["@every 5", "", /Go duration/],
      ["* * *", "", /want 5 fields/],
      ["@every 5s", "Europe/Paris", /no time zone/],
      ["61 * * * *", "", /./],
      ["0 9 * * *", "Mars/Olympus", /./],
      ["0 9 * * *", "Local", /IANA/],
    ];
    for (const [spec, tz, re] of cases) {
      await assert.rejects(c.putSchedule(name, spec, "add", [1, 2], { tz }), (e) => e instanceof s.BadOption && re.test(e.message), `${spec} ${tz}`);
    }
    await assert.rejects(c.putSchedule("has.dot", "@every 5s", "add"), s.BadOption);
    await assert.rejects(c.putSchedule("x".repeat(101), "@every 5s", "add"), s.BadOption);
    await assert.rejects(c.putSchedule(name, "@every 5s", "add", [], { at: new Date() }), s.BadOption);
    await assert.rejects(c.getSchedule(name), s.NotFoundError);
  });
});

test("a paused schedule does not fire; resumed, it fires again", async () => {
  const name = uid("pause");
  await c.putSchedule(name, "@every 1s", "add", [1, 1]);
  const subject = `strand.sched.cron.default.${name}`;
  await eventually(async () => (await c.getSchedule(name)).lastTask, 60_000, "a firing queued");
  await c.pauseSchedule(name);
  await c.pauseSchedule(name); // paused already: nothing to do
  let info = await c.getSchedule(name);
  assert.equal(info.paused, true);
  assert.equal(info.nextRun, undefined);
  let rec = await c.get(c.names.schedulesStream, subject);
  assert.equal(rec.header.get("Strand-Paused"), "1");
  assert.equal(rec.header.get("Nats-Schedule"), "");
  assert.equal(rec.header.get("Strand-Schedule"), "@every 1s");
  await sleep(1500); // a firing made before the pause may still be queued
  const before = (await c.getSchedule(name)).lastTask;
  await sleep(3000);
  assert.equal((await c.getSchedule(name)).lastTask, before, "a paused schedule fired");
  await c.resumeSchedule(name);
  info = await c.getSchedule(name);
  assert.equal(info.paused, false);
  assert.ok(info.nextRun instanceof Date);
  rec = await c.get(c.names.schedulesStream, subject);
  assert.equal(rec.header.get("Nats-Schedule"), "@every 1s");
  assert.equal(rec.header.get("Strand-Paused"), "");
  await eventually(async () => (await c.getSchedule(name)).lastTask !== before, 60_000, "a firing after resume");
  await c.deleteSchedule(name);
  await assert.rejects(c.pauseSchedule(name), s.NotFoundError);
});

test("fired while no worker of its queue runs: due, pending, cancellable", async () => {
  const h = await c.submit("add", [1, 2], { queue: "nobody", after: 1000 });
  assert.equal(await h.status(), "scheduled");
  await eventually(async () => (await h.status()) === "pending", 60_000, "due");
  assert.ok(await c.get(c.names.schedulesStream, c.names.sched("due", "nobody", h.id)));
  const o = c.open(h.id); // found from its firing
  assert.equal(await o.status(), "pending");
  assert.equal(o.queue, "nobody");
  await h.cancel();
  assert.equal(await h.status(), "cancelled");
});
