// Prints a task's status: node status.mjs <id>
// (pending, running, retrying, completed, failed, cancelled, dead or unknown).

import { connect } from "./strand.mjs";

const id = process.argv[2];
if (!id) {
  console.error("usage: node status.mjs <task-id>");
  process.exit(2);
}
const strand = await connect({
  servers: process.env.STRAND_SERVER || "nats://127.0.0.1:4222",
  prefix: process.env.STRAND_PREFIX || "strand",
});
try {
  console.log(await strand.status(id));
} catch (err) {
  console.error(`strand: ${err.message}`);
  process.exitCode = 1;
} finally {
  await strand.close();
}
