// Package runner runs registered functions without NATS, behind the same
// call shape as the NATS writer (strand.Runner): Inline runs a call in the
// caller's goroutine during Submit, Pool on a bounded pool of goroutines,
// Process in a child process of the same binary, so that a crash or an OOM
// of the task does not take down the caller. The NATS runner is
// writer.Writer.Runner.
//
// Every runner encodes the args as the writer does and calls the function
// through its registry.Func, so a call behaves the same on each: the same
// results, and the same *strand.TaskError kinds for bad args, unknown
// functions, handler errors and panics.
//
//	reg := registry.New()
//	reg.MustRegister("add", func(a, b int) int { return a + b })
//	p := runner.Pool(reg, 4)
//	defer p.Close()
//	h, _ := p.Submit(ctx, "add", 2, 3)
//	var sum int
//	err := h.Result(ctx, &sum) // 5
//
// A binary that uses Process (or a reader with Config.ProcessQueues) calls
// ServeChild first thing in main: in the child it runs the one task it is
// given and exits.
package runner
