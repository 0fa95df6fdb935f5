package strand

import "context"

// Runner runs a call of a function by name somewhere — in the caller
// (runner.Inline), on a goroutine pool (runner.Pool), in a child process
// (runner.Process) or on NATS workers (writer.Writer.Runner) — and returns a
// Handle to it. Arguments of a runner's own option type configure the call;
// the others are the function's positional args, encoded as on the wire.
type Runner interface {
	Submit(ctx context.Context, fn string, args ...any) (Handle, error)
}

// Handle is the caller's hold on one submitted task, whichever runner took
// it: the surface every runner's handle shares.
type Handle interface {
	// ID is the task's id.
	ID() string
	// Status is the task's status now.
	Status(ctx context.Context) (Status, error)
	// Result waits for the task to end and decodes its result into out (a
	// pointer, or nil to discard it). A task that did not complete returns
	// its error, a *TaskError matching ErrBadArgs, ErrTimeout, … with errors.Is.
	Result(ctx context.Context, out any) error
	// Cancel stops the task; ErrFinished if it already had an outcome.
	Cancel(ctx context.Context) error
}

// Registrar is where typed tasks register their worker side:
// *registry.Registry satisfies it.
type Registrar interface {
	Register(name string, fn any) error
}
