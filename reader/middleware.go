package reader

import (
	"context"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
)

// Call is one run of a task as middleware sees it: the task, its
// registered function, and its arguments as they came, undecoded, in the
// task's format. Middleware reads it; the handler decodes the arguments
// that were submitted.
type Call struct {
	Task   strand.Task    // id, function, queue, attempt, worker, meta
	Func   *registry.Func // the registered handler
	Format codec.Format   // the format of the task's args, kwargs and result
	Args   []codec.Raw    // positional args, undecoded
	Kwargs codec.Raw      // keyword args, undecoded (nil for none)
	Trace  string         // the W3C traceparent the producer sent ("" for none)
	Queued time.Time      // when the producer created the task (zero if unknown)
	t      *task          // the delivery, for the innermost handler
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
		return r.call(ctx, c.t, c.Func, c.Format)
	})
	for i := len(r.cfg.Middleware) - 1; i >= 0; i-- {
		h = r.cfg.Middleware[i](h)
	}
	return h
}

// handle runs t's handler through the middleware chain.
func (r *Reader) handle(ctx context.Context, t *task, fn *registry.Func, f codec.Format) (any, error) {
	if len(r.cfg.Middleware) == 0 {
		return r.call(ctx, t, fn, f)
	}
	task, _ := strand.TaskFrom(ctx)
	c := &Call{Task: task, Func: fn, Format: f, Args: t.env.Args, Kwargs: t.env.Kwargs, Trace: t.env.Trace, t: t}
	if t.env.Created > 0 {
		c.Queued = time.UnixMilli(t.env.Created)
	}
	return r.handler(ctx, c)
}
