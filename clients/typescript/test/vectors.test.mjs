// The shared wire vectors (testdata/vectors, made by the Go codec): this
// client decodes every one to the value it means, reads outcomes and
// cancellations as the protocol says, maps each error kind to its class,
// and writes envelopes and cancellations that mean the same, number types
// included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as s from "../dist/index.js";

const dir = fileURLToPath(new URL("../../../testdata/vectors/", import.meta.url));
const { protocol, vectors } = JSON.parse(readFileSync(dir + "vectors.json", "utf8"));
const bytes = (v) => new Uint8Array(readFileSync(dir + v.file));
const hdrs = (v) => ({ get: (k) => v.headers?.[k] ?? "" });
const codec = new s.Codec();

// typed reads msgpack bytes into a tree that keeps what JavaScript values
// lose: whether a number was a msgpack integer or a float.
function typed(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const td = new TextDecoder();
  const str = (n) => td.decode(buf.subarray(at, (at += n)));
  const u = (n) => {
    const v = n === 1 ? dv.getUint8(at) : n === 2 ? dv.getUint16(at) : n === 4 ? dv.getUint32(at) : Number(dv.getBigUint64(at));
    at += n;
    return v;
  };
  const i = (n) => {
    const v = n === 1 ? dv.getInt8(at) : n === 2 ? dv.getInt16(at) : n === 4 ? dv.getInt32(at) : Number(dv.getBigInt64(at));
    at += n;
    return v;
  };
  const arr = (n) => Array.from({ length: n }, () => next());
  const map = (n) => {
    const o = {};
    for (let k = 0; k < n; k++) {
      const key = next();
      o[key] = next();
    }
    return o;
  };
  function next() {
    const b = buf[at++];
    if (b <= 0x7f) return { int: b };
    if (b >= 0xe0) return { int: b - 0x100 };
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xca: { const v = dv.getFloat32(at); at += 4; return { float: v }; }
      case 0xcb: { const v = dv.getFloat64(at); at += 8; return { float: v }; }
      case 0xcc: return { int: u(1) };
      case 0xcd: return { int: u(2) };
      case 0xce: return { int: u(4) };
      case 0xcf: return { int: u(8) };
      case 0xd0: return { int: i(1) };
      case 0xd1: return { int: i(2) };
      case 0xd2: return { int: i(4) };
      case 0xd3: return { int: i(8) };
      case 0xd9: return str(u(1));
      case 0xda: return str(u(2));
      case 0xdb: return str(u(4));
      case 0xdc: return arr(u(2));
      case 0xdd: return arr(u(4));
      case 0xde: return map(u(2));
      case 0xdf: return map(u(4));
    }
    throw new Error(`msgpack byte 0x${b.toString(16)} at ${at - 1}: not in the vectors`);
  }
  const v = next();
  assert.equal(at, buf.length, "trailing bytes");
  return v;
}

// typedValue is typed for a JSON value: an integer is a safe integer
// (the vectors keep integers within ±(2^53 − 1)); any other number a float.
function typedValue(v) {
  if (typeof v === "number") return Number.isSafeInteger(v) ? { int: v } : { float: v };
  if (Array.isArray(v)) return v.map(typedValue);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typedValue(x)]));
  return v;
}

test("the vectors are of protocol version 2 and cover every kind", () => {
  assert.equal(protocol, s.VERSION);
  const kinds = new Set(vectors.map((v) => v.kind));
  for (const k of ["envelope", "state", "outcome", "cancellation", "item", "items_end", "worker"]) assert.ok(kinds.has(k), k);
});

test("every vector decodes to its value", () => {
  for (const v of vectors) {
    const b = bytes(v);
    if (v.kind === "items_end") {
      assert.equal(b.length, 0, v.name);
      assert.ok(s.isMarker(b, hdrs(v)) || b.length === 0, v.name);
      continue;
    }
    // Items by their Content-Type, records by their first byte.
    const f = v.kind === "item" ? (v.headers["Content-Type"] === "application/json" ? "json" : "msgpack") : s.sniff(b);
    assert.equal(f, v.format, `${v.name}: format`);
    assert.deepEqual(codec.decode(b, f), v.value, v.name);
    if (v.format === "msgpack") assert.deepEqual(typed(b), typedValue(v.value), `${v.name}: number types`);
  }
});

test("outcomes and cancellations read as the protocol says, each error kind as its class", () => {
  const classes = {
    error: s.TaskFailed, panic: s.Panic, timeout: s.Timeout, cancelled: s.Cancelled, unknown_func: s.UnknownFunc,
    bad_args: s.BadArgs, malformed: s.Malformed, too_large: s.TooLarge, lost: s.Lost, crashed: s.Crashed, forbidden: s.Forbidden,
  };
  const seen = new Set();
  for (const v of vectors.filter((v) => v.kind === "outcome" || v.kind === "cancellation")) {
    const o = s.readOutcome(codec, v.subject, bytes(v), 1);
    const want = v.kind === "cancellation" ? v.reads_as : { ...v.value, queue: v.value.queue ?? "default" };
    assert.deepEqual({ ...o }, want, v.name);
    if (o.status === "completed") continue;
    const err = s.taskError("t1", o);
    assert.ok(err instanceof s.TaskError, v.name);
    assert.equal(err.status, o.status);
    assert.equal(err.message, o.error.message);
    const m = /^outcome_failed_(.+)_(json|msgpack)$/.exec(v.name);
    if (m) {
      assert.ok(err instanceof classes[m[1]], `${v.name}: ${err.constructor.name}, want ${classes[m[1]].name}`);
      assert.equal(err.kind, m[1]);
      seen.add(m[1]);
    }
    if (v.kind === "cancellation") assert.ok(err instanceof s.Cancelled, v.name);
  }
  assert.deepEqual([...seen].sort(), Object.keys(classes).sort(), "an outcome vector of every error kind");
});

test("states and the worker record read as their values", () => {
  for (const v of vectors.filter((v) => v.kind === "state" || v.kind === "worker")) {
    assert.deepEqual(codec.record(bytes(v)), v.value, v.name);
  }
});

test("items end markers carry their count and error in headers", () => {
  for (const v of vectors.filter((v) => v.kind === "items_end")) {
    assert.ok(Number(v.headers["Strand-End"]) >= 0, v.name);
    if (v.name.startsWith("items_end_failed")) assert.equal(v.headers["Strand-Error-Kind"], "error");
  }
});

test("envelopes and cancellations this client writes mean the same as Go's, number types included", (t) => {
  let same = 0;
  let differ = [];
  for (const v of vectors.filter((v) => v.kind === "envelope" || v.kind === "cancellation")) {
    let rec;
    if (v.kind === "envelope") {
      rec = s.envelope(v.value);
    } else {
      rec = s.cancellation(v.value, v.value.queue, v.value.finished);
      if (v.name.startsWith("cancellation_forged")) continue; // not what a canceller writes
      assert.deepEqual({ ...rec }, v.value, `${v.name}: the record a cancel writes`);
    }
    const ours = codec.encode(rec, v.format, v.name);
    assert.deepEqual(codec.decode(ours, v.format), v.value, `${v.name}: decodes to its value`);
    if (v.format === "msgpack") assert.deepEqual(typed(ours), typed(bytes(v)), `${v.name}: number types`);
    if (Buffer.compare(Buffer.from(ours), Buffer.from(bytes(v))) === 0) same++;
    else differ.push(v.name);
  }
  t.diagnostic(`byte-equal to Go's: ${same}; not (allowed: key order, integer widths): ${differ.join(", ") || "none"}`);
  assert.ok(same > 0);
});

test("a message's headers say what the client sends", () => {
  const v = vectors.find((v) => v.name === "envelope_add_msgpack");
  assert.equal(v.headers["Nats-TTL"], "336h0m0s");
  assert.equal(s.ttlMs(v.headers["Nats-TTL"]), 14 * 24 * 3600 * 1000);
  assert.equal(s.DEFAULT_TASK_TTL_MS, 14 * 24 * 3600 * 1000);
  assert.equal(new s.Names("strand").task("default", v.value.id), v.subject);
});
