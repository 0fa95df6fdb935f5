// Submits one task to strand and prints its result as JSON.
//
//   node submit.mjs                     # add(2, 3) → 5
//   node submit.mjs --json echo '"hi"'  # a JSON envelope: echo("hi") → "hi"
//   node submit.mjs --id job-42 add 1 2 # your own id: an idempotency key
//   node submit.mjs --queue later --no-wait add 1 2 # prints the id, does not wait
//   node submit.mjs --result-ttl-ms 1000 add 1 2    # the outcome is kept 1 s
//   node submit.mjs --kwargs '{"scale":10}' scaled_add 2 3 # keyword arguments → 50
//   node submit.mjs fail boom           # a task that fails: the error on stderr, exit 1
//
// Arguments after the function name are parsed as JSON when they are JSON,
// else passed as strings. STRAND_SERVER is the NATS URL (default
// nats://127.0.0.1:4222); STRAND_PREFIX the deployment prefix (default strand).

import { connect, TaskError } from "@strand-run/client";

const argv = process.argv.slice(2);
const opts = {};
let wait = true;
for (;;) {
  if (argv[0] === "--json") {
    opts.json = true;
    argv.shift();
  } else if (argv[0] === "--no-wait") {
    wait = false;
    argv.shift();
  } else if (argv[0] === "--id") {
    opts.id = argv[1];
    argv.splice(0, 2);
  } else if (argv[0] === "--queue") {
    opts.queue = argv[1];
    argv.splice(0, 2);
  } else if (argv[0] === "--result-ttl-ms") {
    opts.resultTtl = Number(argv[1]);
    argv.splice(0, 2);
  } else if (argv[0] === "--kwargs") {
    opts.kwargs = JSON.parse(argv[1]);
    argv.splice(0, 2);
  } else break;
}
const func = argv.shift() ?? "add";
const args = argv.length > 0 ? argv.map(parseArg) : func === "add" ? [2, 3] : [];

function parseArg(s) {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

const strand = await connect(process.env.STRAND_SERVER || "nats://127.0.0.1:4222", {
  prefix: process.env.STRAND_PREFIX || "strand",
});
try {
  const h = await strand.submit(func, args, opts);
  if (!wait) {
    console.log(h.id);
  } else {
    const result = await h.result({ timeout: 60_000 });
    console.log(JSON.stringify(result ?? null));
  }
} catch (err) {
  const kind = err instanceof TaskError ? ` (${err.status}, ${err.kind})` : "";
  console.error(`strand: ${err.message}${kind}`);
  process.exitCode = 1;
} finally {
  await strand.close();
}
