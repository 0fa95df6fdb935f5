// Test helpers: a real `strand dev` per test file (its own free port and
// temp data dir, killed by PID), and small waits.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The strand binary: STRAND_BIN, else what test/build.mjs built. */
export const strandBin = process.env.STRAND_BIN || fileURLToPath(new URL("./.bin/strand", import.meta.url));

const running = new Set();
process.on("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `strand dev` on a free port (or opts.port) with a temp data dir
 * (or opts.data), and resolves once it prints its ready line.
 */
export async function startDev(opts = {}) {
  const port = opts.port ?? (await freePort());
  const data = opts.data ?? mkdtempSync(path.join(tmpdir(), "strand-ts-"));
  const child = spawn(strandBin, ["dev", "--addr", `127.0.0.1:${port}`, "--data", data, "--log-level", "warn"], {
    env: { ...process.env, STRAND_PREFIX: "", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let out = "";
  let err = "";
  child.stderr.on("data", (b) => (err += b));
  const exited = new Promise((resolve) => child.once("exit", (code, sig) => {
    running.delete(child);
    resolve({ code, sig });
  }));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strand dev not ready after 60 s: ${out}${err}`)), 60_000);
    child.stdout.on("data", (b) => {
      out += b;
      if (out.includes("ready; Ctrl-C to stop")) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(({ code, sig }) => {
      clearTimeout(timer);
      reject(new Error(`strand dev exited (${code ?? sig}): ${out}${err}`));
    });
  });
  const dev = {
    url: `nats://127.0.0.1:${port}`,
    port,
    data,
    pid: child.pid,
    exited,
    /** Sends sig (default SIGKILL) to the process by its PID and waits for it to exit. */
    async kill(sig = "SIGKILL") {
      if (running.has(child)) process.kill(child.pid, sig);
      await exited;
    },
    /** Stops it and removes its data dir (unless the caller gave one). */
    async stop() {
      await dev.kill("SIGTERM");
      if (!opts.data) rmSync(data, { recursive: true, force: true });
    },
  };
  return dev;
}

/** Resolves after ms. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Calls fn until it returns a truthy value (then resolves it), or rejects after ms. */
export async function eventually(fn, ms = 20_000, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not met after ${ms} ms`);
    await sleep(50);
  }
}
