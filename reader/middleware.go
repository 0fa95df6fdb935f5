package reader

import (
	"context"
	"fmt"
	"time"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Call is one run of a task as middleware sees it: the task, its
// registered function, where it came from, and its arguments, which
// middleware may decode (NumArgs, DecodeArg, DecodeKwargs) and the handler
// decodes as they were submitted.
type Call struct {
	Task   strand.Task   // id, function, queue, attempt, worker, meta
	fn     *handler.Func // the registered handler
	Trace  string        // the W3C traceparent the producer sent ("" for none)
	Queued time.Time     // when the producer created the task (zero if unknown)
	t      *task         // the delivery: its format, args and kwargs
}

// NumArgs is how many positional arguments the task was submitted with.
func (c *Call) NumArgs() int { return len(c.t.env.Args) }

// DecodeArg decodes positional argument i (from 0) into out, a pointer, as
// a handler's parameter is decoded. An i out of range is an error wrapping
// strand.ErrBadArgs.
func (c *Call) DecodeArg(i int, out any) error {
	if i < 0 || i >= len(c.t.env.Args) {
		return fmt.Errorf("%w: %s: no arg %d (it has %d)", strand.ErrBadArgs, c.Task.Func, i+1, len(c.t.env.Args))
	}
	if err := codec.DecodeValue(c.t.format, c.t.env.Args[i], out, false); err != nil {
		return fmt.Errorf("%w: %s: arg %d: %v", strand.ErrBadArgs, c.Task.Func, i+1, err)
	}
	return nil
}

// DecodeKwargs decodes the keyword arguments into out, a pointer to a map
// or a struct (by its msgpack tags, json tags as fallback); a task without
// kwargs leaves out as it is.
func (c *Call) DecodeKwargs(out any) error {
	if c.t.env.Kwargs.IsNil() {
		return nil
	}
	if err := codec.DecodeValue(c.t.format, c.t.env.Kwargs, out, false); err != nil {
		return fmt.Errorf("%w: %s: kwargs: %v", strand.ErrBadArgs, c.Task.Func, err)
	}
	return nil
}

// Handler runs one task and returns its result: the unit a worker calls
// per task, which middleware wraps. Its error decides the outcome as a
// handler's does: strand.Retry, strand.Permanent, a *strand.TaskError with
// its kind, or a plain error.
type Handler func(ctx context.Context, c *Call) (any, error)

// Middleware wraps a Handler with work done around every task (logs,
// metrics, limits, checks), as net/http middleware wraps an http.Handler.
// Config.Middleware lists them outermost first.
type Middleware func(Handler) Handler

// chain builds the handler a worker calls: the middleware around the call
// of the registered function (with its timeout and abandonment, see call).
func (r *Reader) chain() Handler {
	h := Handler(func(ctx context.Context, c *Call) (any, error) {
		return r.call(ctx, c.t, c.fn, c.t.format)
	})
	for i := len(r.cfg.Middleware) - 1; i >= 0; i-- {
		h = r.cfg.Middleware[i](h)
	}
	return h
}

// handle runs t's handler through the middleware chain.
func (r *Reader) handle(ctx context.Context, t *task, fn *handler.Func, f codec.Format) (any, error) {
	if len(r.cfg.Middleware) == 0 {
		return r.call(ctx, t, fn, f)
	}
	task, _ := strand.TaskFrom(ctx)
	c := &Call{Task: task, fn: fn, Trace: t.env.Trace, t: t}
	if t.env.Created > 0 {
		c.Queued = time.UnixMilli(t.env.Created)
	}
	return r.handler(ctx, c)
}
