package reader

import (
	"context"
	"time"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Call is one run of a task as middleware sees it: the task, its
// registered function, where it came from, and its arguments, which
// middleware may decode (a decoding error wraps strand.ErrBadArgs) and the
// handler decodes as they were submitted.
type Call struct {
	Task   strand.Task // id, function, queue, attempt, worker, meta
	Trace  string      // the W3C traceparent the producer sent ("" for none)
	Queued time.Time   // when the producer created the task (zero if unknown)
	// Args are the task's positional args and Kwargs its keyword args
	// (nil when it has none), as encoded: Decode one into a Go value, as
	// writer middleware and strandtest see them.
	Args   []strand.Value
	Kwargs strand.Value

	fn *handler.Func // the registered handler
	t  *task         // the delivery: its format, args and kwargs
}

// newCall is the Call of t's run of fn.
func newCall(task strand.Task, t *task, fn *handler.Func) *Call {
	c := &Call{Task: task, fn: fn, Trace: t.env.Trace, t: t}
	if t.env.Created > 0 {
		c.Queued = time.UnixMilli(t.env.Created)
	}
	for i, a := range t.env.Args {
		c.Args = append(c.Args, codec.Value{F: t.format, Raw: a, Err: strand.ErrBadArgs, Pos: i + 1, What: t.env.Func})
	}
	if !t.env.Kwargs.IsNil() {
		c.Kwargs = codec.Value{F: t.format, Raw: t.env.Kwargs, Err: strand.ErrBadArgs, What: "the kwargs of " + t.env.Func}
	}
	return c
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
	return r.handler(ctx, newCall(task, t, fn))
}
