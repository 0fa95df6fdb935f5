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

describe("key, uniqueFor, debounce", () => {
  test("racing submits with one unique key make one task; finished frees the key", async () => {
    const c2 = await s.connect(dev.url);
    try {
      const key = uid("key");
      const one = async (cl) => {
        try {
          return { id: (await cl.submit("sleep", [500], { key, uniqueFor: "finished" })).id, dup: false };
        } catch (err) {
          assert.ok(err instanceof s.DuplicateError, String(err));
          return { id: err.handle.id, dup: true };
        }
      };
      const got = await Promise.all([c, c2, c, c2].map(one));
      assert.equal(new Set(got.map((g) => g.id)).size, 1, JSON.stringify(got));
      assert.equal(got.filter((g) => !g.dup).length, 1, JSON.stringify(got));
      const id = got[0].id;
      const rec = await c.get(c.names.tasksStream, c.names.task("default", id));
      const env = new s.Codec().record(rec.data);
      assert.equal(env.key, key);
      assert.equal(env.unique, "finished");
      assert.equal((await c.open(id).wait({ timeout: 60_000 })).status, "completed");
      const again = await c.submit("sleep", [1], { key, uniqueFor: "finished" });
      assert.notEqual(again.id, id);
      assert.equal((await again.wait({ timeout: 60_000 })).status, "completed");
    } finally {
      await c2.close();
    }
  });

  test("a unique window holds after its task ended; a cancel frees an until-finished key", async () => {
    const key = uid("win");
    const first = await c.submit("add", [1, 2], { key, uniqueFor: 30_000 });
    assert.equal(await first.result({ timeout: 60_000 }), 3);
    await assert.rejects(c.submit("add", [1, 2], { key, uniqueFor: 30_000 }), (err) => {
      assert.ok(err instanceof s.DuplicateError);
      assert.equal(err.handle.id, first.id);
      return true;
    });
    const k2 = uid("cancel");
    const h = await c.submit("add", [1, 2], { queue: NOBODY, key: k2, uniqueFor: "finished" });
    await assert.rejects(c.submit("add", [1, 2], { queue: NOBODY, key: k2, uniqueFor: "finished" }), s.DuplicateError);
    await h.cancel();
    const again = await c.submit("add", [1, 2], { queue: NOBODY, key: k2, uniqueFor: "finished" });
    assert.notEqual(again.id, h.id);
    await again.cancel();
  });

  test("debounce: the last submit wins, the replaced pending tasks end cancelled", async () => {
    const key = uid("deb");
    const hs = [];
    for (let i = 0; i < 3; i++) hs.push(await c.submit("add", [i, 10], { key, debounce: 2000 }));
    const rec = await c.get(c.names.tasksStream, c.names.task("default", hs[2].id));
    const env = new s.Codec().record(rec.data);
    assert.equal(env.not_before, env.created + 2000);
    const last = await hs[2].wait({ timeout: 60_000 });
    assert.equal(last.status, "completed");
    assert.equal(last.result, 12);
    assert.ok(last.started >= env.not_before, "started before its debounce window");
    for (let i = 0; i < 2; i++) {
      const o = await hs[i].wait({ timeout: 10_000 });
      assert.equal(o.status, "cancelled");
      assert.equal(o.error?.message, `add: replaced by ${hs[i + 1].id} (debounce ${key})`);
      await assert.rejects(hs[i].result({ timeout: 1000 }), s.Cancelled);
    }
  });

  test("bad flow options are refused", async () => {
    for (const opts of [{ uniqueFor: 10_000 }, { debounce: 10_000 }, { key: "k", uniqueFor: 10_000, debounce: 10_000 }, { key: "a b" },
      { key: "k", uniqueFor: 500 }, { key: "k", debounce: 200 }, { key: "k", uniqueFor: 120_000, resultTtl: 60_000 }, { key: "k", uniqueFor: "soon" }]) {
      await assert.rejects(c.submit("add", [1, 2], opts), s.BadOption, JSON.stringify(opts));
    }
  });
});
