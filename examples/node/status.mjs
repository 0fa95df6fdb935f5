// Prints a task's status: node status.mjs <id> [queue]
// (pending, running, retrying, completed, failed, cancelled, dead or unknown).
// Without a queue the task is located first.

import { connect } from "@strand-run/client";

const [id, queue] = process.argv.slice(2);
if (!id) {
  console.error("usage: node status.mjs <task-id> [queue]");
  process.exit(2);
}
const strand = await connect(process.env.STRAND_SERVER || "nats://127.0.0.1:4222", {
  prefix: process.env.STRAND_PREFIX || "strand",
});
try {
  console.log(await strand.open(id, queue ? { queue } : {}).status());
} catch (err) {
  console.error(`strand: ${err.message}`);
  process.exitCode = 1;
} finally {
  await strand.close();
}
