// Flow-control submit options (priority, key, uniqueFor, debounce) against
// a real `strand dev` (docs/protocol.md, "Flow control"). No tight timing:
// orders are read from the outcomes' start times.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import * as s from "../dist/index.js";
import { startDev } from "./helpers.mjs";

const NOBODY = "nobody"; // a queue no worker consumes
let dev;
let c;
let n = 0;
const uid = (what) => `ts-${what}-${process.pid}-${++n}`;

before(async () => {
  dev = await startDev({ env: { STRAND_CONCURRENCY: "1" } }); // one slot: tasks start one by one
  c = await s.connect(dev.url);
});
after(async () => {
  await c?.close();
  await dev?.stop();
});

describe("priority", () => {
  test("a high task starts before a backlog of low ones on a 1-slot worker", async () => {
    const lows = [];
    for (let i = 0; i < 6; i++) lows.push(await c.submit("sleep", [300], { priority: "low" }));
    const high = await c.submit("sleep", [1], { priority: "high" });
    const h = await high.wait({ timeout: 60_000 });
    assert.equal(h.status, "completed");
    const starts = [];
    for (const lo of lows) starts.push((await lo.wait({ timeout: 60_000 })).started);
    // A 1-slot worker holds at most one low task running and one in its
    // low lane's standing request when the high one comes.
    const later = starts.filter((st) => st >= h.started).length;
    assert.ok(later >= lows.length - 2, `high started ${h.started}, lows ${starts}`);
  });

  test("a task in a lane: status, open, cancel, its id taken across lanes", async () => {
    const id = uid("prio");
    const h = await c.submit("add", [1, 2], { id, queue: NOBODY, priority: "high" });
    assert.equal(await h.status(), "pending");
    const rec = await c.get(c.names.tasksStream, c.names.task(NOBODY, id, "high"));
    assert.equal(rec.header.get("Nats-Expected-Last-Subject-Sequence-Subject"), `strand.t.*.${id}`);
    const o = c.open(id); // its queue located from the lane's subject
    assert.equal(await o.status(), "pending");
    const info = await o.metadata;
    assert.equal(info.queue, NOBODY);
    for (const priority of [undefined, "low", "high", "normal"]) {
      await assert.rejects(c.submit("add", [1, 2], { id, queue: NOBODY, priority }), (err) => {
        assert.ok(err instanceof s.DuplicateError, String(err));
        assert.equal(err.handle.id, id);
        return true;
      });
    }
    await o.cancel();
    assert.equal(await h.status(), "cancelled");
    // A normal task's id holds a lane's publish back too.
    const id2 = uid("prio");
    await c.submit("add", [1, 2], { id: id2, queue: NOBODY });
    await assert.rejects(c.submit("add", [1, 2], { id: id2, queue: NOBODY, priority: "low" }), s.DuplicateError);
  });

  test("an unknown priority is refused", async () => {
    await assert.rejects(c.submit("add", [1, 2], { priority: "urgent" }), (err) => {
      assert.ok(err instanceof s.BadOption && /priority/.test(err.message), String(err));
      return true;
    });
  });
});
