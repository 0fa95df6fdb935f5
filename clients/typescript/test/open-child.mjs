// Run by client.test.mjs as another process: opens task ID (in QUEUE if
// given) and prints what it reads as JSON: its result and metadata, or
// (third argument "status") only its status.
import * as s from "../dist/index.js";

const [url, id, queue, what] = process.argv.slice(2);
const c = await s.connect(url);
try {
  const h = c.open(id, queue ? { queue } : {});
  if (what === "status") {
    console.log(JSON.stringify({ status: await h.status() }));
  } else {
    const result = await h.result({ timeout: 30_000 });
    const info = await h.metadata;
    console.log(JSON.stringify({ result, status: info.status, queue: h.queue, meta: info.meta }));
  }
} finally {
  await c.close();
}
