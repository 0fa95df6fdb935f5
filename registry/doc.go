// Package registry maps function names to Go handlers, the way workers find
// the code for a task. A handler is a plain Go function; its signature is
// analysed once, at registration, and every call decodes the task's args and
// kwargs into its parameter types, with errors that name the function and
// the argument:
//
//	reg := registry.New()
//	reg.MustRegister("add", func(a, b int) int { return a + b })
//	// a task add("x", 3) fails with: add: arg 1: want int, got string "x"
//
// The registry knows nothing of NATS: the reader package feeds it tasks.
package registry
