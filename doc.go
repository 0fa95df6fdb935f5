// Package strand turns any Go function into a durable, non-blocking task
// dispatched over NATS JetStream.
//
// A writer (package writer) submits a call of a function by name; workers
// (package reader) run it through a registry of handlers (package registry)
// and record its outcome; the caller's Handle gives its status, its result
// as soon as it exists, its progress and streamed items, and a way to
// cancel it. The wire records are specified in docs/protocol.md, so
// producers and workers in any language can take part; package broker is
// the connection, package server the embedded NATS server, package inspect
// the operator's view (queues, workers, dead letters, pause).
//
// This package holds the shared vocabulary:
//
//   - the submit options (Queue, Timeout, ID, At, Priority, Unique, …),
//     taken after the args by every Runner: the writer and the local
//     runners of package runner;
//
//   - Handle, Outcome, Info, Report and Value, one shape for every runner,
//     with Items (typed items);
//
//   - task statuses, and the error kinds, each its own sentinel
//     (ErrTimeout, ErrBadArgs, …);
//
//   - typed tasks (NewFunc) that give Go callers compile-time types over
//     the name-based wire;
//
//   - what a handler reads and says from its context: TaskFrom, Progress,
//     Retry and Permanent.
//
//     func resize(ctx context.Context, url string) (string, error) {
//     t, _ := strand.TaskFrom(ctx) // t.ID, t.Attempt: make the work idempotent
//     …
//     }
//
//     h, err := w.Submit(ctx, "resize", []any{url}, strand.Queue("images"), strand.Timeout(time.Minute))
//     var thumb string
//     err = h.Result(ctx, &thumb)
package strand
