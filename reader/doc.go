// Package reader is strand's worker: it takes tasks from its queues, runs
// the registered handlers in a bounded pool, and records each outcome before
// it acknowledges the task.
//
//	reg := registry.New()
//	reg.MustRegister("add", func(a, b int) int { return a + b })
//	r, _ := reader.New(b, reg, reader.Config{Concurrency: 8})
//	err := r.Run(ctx) // until ctx ends; then a graceful shutdown
//
// Delivery is at least once: a worker that dies mid-task has the task
// redelivered after AckWait. Outcomes are written create-only, so the first
// one recorded stands. Malformed envelopes, unknown functions, bad
// arguments and panics end the task failed with a readable error; they never
// crash the worker or loop.
package reader
