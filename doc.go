// Package strand turns any Go function into a durable, non-blocking task
// dispatched over NATS JetStream.
//
// A writer (package writer) submits a call of a function by name; workers
// (package reader) run it through a registry of handlers (package registry)
// and record its outcome; the caller's Handle gives its status, its result
// as soon as it exists, and a way to cancel it. The wire records are in
// package codec and specified in docs/protocol.md, so producers in any
// language can submit tasks; package broker owns the NATS side (connection,
// embedded server, bucket and consumers).
//
// This package holds the small shared vocabulary: task statuses, sentinel
// errors and error kinds; Runner and Handle, the one call shape of every
// place a task can run (package runner, and the writer's Runner); typed
// tasks (Task2, Func2, …) that give Go callers compile-time types over the
// name-based wire; and the Task a handler can read from its context:
//
//	func resize(ctx context.Context, url string) (string, error) {
//		t, _ := strand.TaskFrom(ctx) // t.ID, t.Attempt: make the work idempotent
//		…
//	}
package strand
