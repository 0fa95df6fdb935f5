// A server restart while a caller waits: `strand dev` (server and worker)
// is killed by PID with SIGKILL mid-task and started again on the same
// port and data dir; the client reconnects by itself, the task is
// redelivered (AckWait 2 s here) and the waiter gets its result.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";

import * as s from "../dist/index.js";
import { eventually, startDev } from "./helpers.mjs";

const env = { STRAND_ACK_WAIT: "2s" };
let dev;
let c;
after(async () => {
  await c?.close();
  await dev?.stop();
  if (dev) rmSync(dev.data, { recursive: true, force: true });
});

test("a server restart while waiting for a result", async () => {
  dev = await startDev({ env });
  c = await s.connect(dev.url);
  const running = await c.submit("sleep", [1500]);
  const queued = await c.submit("add", [2, 3], { queue: "later" });
  await eventually(async () => (await running.status()) === "running", 20_000, "running");
  const results = Promise.all([running.result({ timeout: 60_000 }), running.wait({ timeout: 60_000 })]);
  await dev.kill("SIGKILL");
  // A submit while the server is down is sent again until it is stored.
  const waiting = c.submit("add", [40, 2]);
  const { port, data } = dev;
  dev = await startDev({ port, data, env });

  const [result, outcome] = await results;
  assert.equal(result, null);
  assert.equal(outcome.status, "completed");
  assert.ok(outcome.attempt >= 2, `attempt ${outcome.attempt}: run again after the kill`);
  assert.equal(await queued.status(), "pending", "a queued task survives the restart");
  const h = await waiting;
  assert.equal(await h.result({ timeout: 30_000 }), 42);
  // The connection is the same client's, reconnected.
  assert.equal(await (await c.submit("add", [1, 1])).result({ timeout: 30_000 }), 2);
  await queued.cancel();
});
