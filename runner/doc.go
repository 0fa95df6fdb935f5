// Package runner runs registered functions without NATS, behind the call
// shape of the NATS writer (strand.Runner): Inline runs a call in the
// caller's goroutine during Submit, Pool on a bounded pool of goroutines,
// Process in a child process of the same binary, so that a crash or an OOM
// of the task does not take down the caller.
//
// Every runner encodes the args as the writer does and calls the function
// through its registry, so a call behaves the same on each: the same
// results, and the same *strand.TaskError kinds for bad args, unknown
// functions, handler errors and panics. The handle Submit returns is a
// strand.Handle like the writer's: Wait, Result, Cancel, Items, Progress,
// WatchProgress, Info, and strand.Items decodes its items.
//
//	reg := registry.New()
//	reg.MustRegister("add", func(a, b int) int { return a + b })
//	p := runner.Pool(reg, 4)
//	defer p.Close()
//	h, _ := p.Submit(ctx, "add", []any{2, 3})
//	var sum int
//	err := h.Result(ctx, &sum) // 5
//
// Of the submit options, a local runner honours ID, Kwargs, Timeout and
// Meta (strand.TaskFrom(ctx).Meta). It accepts and ignores those that mean
// nothing without NATS: Queue, ResultTTL, Caller, Encoding (values
// are always encoded as msgpack) and MaxAttempts (a call runs once, so no
// cap is passed). It refuses, with an error matching strand.ErrBadOption,
// those it cannot honour: At, After, Unique, Debounce, Key, Fair and
// Priority.
//
// A binary that uses Process (or a reader with Config.ProcessQueues) calls
// ServeChild first thing in main: in the child it runs the one task it is
// given and exits.
package runner
