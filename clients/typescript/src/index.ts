/**
 * @strand-run/client: submit tasks to strand's workers (Go, or any that
 * speak docs/protocol.md) from Node.js, and hold them by handles.
 *
 *   import * as s from "@strand-run/client";
 *   const c = await s.connect("nats://127.0.0.1:4222");
 *   const h = await c.submit("add", [2, 3]);
 *   console.log(await h.result({ timeout: 20000 })); // 5
 *   await c.close();
 *
 * @module
 */

export {
  connect,
  Client,
  DEFAULT_QUEUE,
  DEFAULT_RESULT_TTL_MS,
  DEFAULT_TASK_TTL_MS,
  uuidv7,
  type ConnectOptions,
  type OpenOptions,
  type ScheduleInfo,
  type ScheduleOptions,
  type SubmitOptions,
  type TaskFunction,
} from "./client.js";
export { Handle, type StreamCallbacks, type TaskInfo, type WaitOptions } from "./handle.js";
export {
  BadArgs,
  BadOption,
  Cancelled,
  ClosedError,
  Crashed,
  DuplicateError,
  FinishedError,
  Forbidden,
  Lost,
  Malformed,
  NotFoundError,
  Panic,
  PayloadTooLarge,
  StrandError,
  TaskError,
  taskError,
  TaskFailed,
  Timeout,
  TooLarge,
  UnknownFunc,
  WaitTimeout,
} from "./errors.js";
export {
  asCancelled,
  cancellation,
  Codec,
  envelope,
  isMarker,
  Names,
  readOutcome,
  sniff,
  TERMINAL,
  ttlMs,
  VERSION,
  type Envelope,
  type ErrorInfo,
  type Format,
  type Priority,
  type Outcome,
  type Progress,
  type State,
  type Status,
} from "./wire.js";
