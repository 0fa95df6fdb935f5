package reader

import (
	"context"
	"time"

	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/runner"
)

// inChild is the innermost middleware of a worker with process queues:
// their tasks run in a child process (runner.RunChild), which ctx's end
// (deadline, cancel, shutdown) kills; other queues' tasks go on to next.
func (r *Reader) inChild(next Handler) Handler {
	queues := make(map[string]bool, len(r.cfg.ProcessQueues))
	for _, q := range r.cfg.ProcessQueues {
		queues[q] = true
	}
	return func(ctx context.Context, c *Call) (any, error) {
		if !queues[c.Task.Queue] {
			return next(ctx, c)
		}
		env := &codec.Envelope{V: codec.Version, ID: c.Task.ID, Func: c.Task.Func, Args: c.Args,
			Kwargs: c.Kwargs, Queue: c.Task.Queue, Meta: c.Task.Meta}
		if d, ok := ctx.Deadline(); ok {
			env.TimeoutMS = max(time.Until(d).Milliseconds(), 1)
		}
		res, err := runner.RunChild(ctx, r.cfg.ChildPath, c.Task, env, c.Format)
		if err != nil || res == nil {
			return nil, err
		}
		return res, nil
	}
}
