// Cancels a task: node cancel.mjs <id> [queue]
// Prints "cancelled"; a task that has finished, or of which nothing is
// left, is refused (the reason on stderr, exit 1).

import { connect } from "@strand-run/client";

const [id, queue] = process.argv.slice(2);
if (!id) {
  console.error("usage: node cancel.mjs <task-id> [queue]");
  process.exit(2);
}
const strand = await connect(process.env.STRAND_SERVER || "nats://127.0.0.1:4222", {
  prefix: process.env.STRAND_PREFIX || "strand",
});
try {
  await strand.open(id, queue ? { queue } : {}).cancel();
  console.log("cancelled");
} catch (err) {
  console.error(`strand: ${err.message}`);
  process.exitCode = 1;
} finally {
  await strand.close();
}
