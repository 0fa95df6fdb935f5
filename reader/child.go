package reader

import (
	"context"
	"time"

	"github.com/strand-run/strand/internal/child"
	"github.com/strand-run/strand/internal/codec"
)

// inChild is the innermost middleware of a worker with process queues:
// their tasks run in a child process (internal/child.Run), which ctx's end
// (deadline, cancel, shutdown) kills, and an iterator handler's items
// stream from the child as from any handler; other queues' tasks go on to
// next.
func (r *Reader) inChild(next Handler) Handler {
	queues := make(map[string]bool, len(r.cfg.ProcessQueues))
	for _, q := range r.cfg.ProcessQueues {
		queues[q] = true
	}
	return func(ctx context.Context, c *Call) (any, error) {
		if !queues[c.Task.Queue] {
			return next(ctx, c)
		}
		env := &codec.Envelope{V: codec.Version, ID: c.Task.ID, Func: c.Task.Func, Args: c.t.env.Args,
			Kwargs: c.t.env.Kwargs, Queue: c.Task.Queue, Meta: c.Task.Meta}
		if d, ok := ctx.Deadline(); ok {
			env.TimeoutMS = max(time.Until(d).Milliseconds(), 1)
		}
		var emit func(codec.Raw) error
		if s := c.t.items; s != nil { // an iterator handler: its items stream from the child
			if c.t.attempt > 1 {
				if err := s.purge(ctx); err != nil {
					return nil, err
				}
			}
			emit = func(item codec.Raw) error { return s.send(item) }
		}
		res, err := child.Run(ctx, r.cfg.ChildPath, c.Task, env, c.t.format, emit)
		if err != nil || res == nil {
			return nil, err
		}
		return res, nil
	}
}
