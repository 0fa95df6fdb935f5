package runner

import (
	"context"
	"os"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/child"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/taskctx"
	"github.com/strand-run/strand/registry"
)

// runChild runs c in a child process of this binary.
func runChild(ctx context.Context, c *call, h *handle) {
	if c.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, c.timeout+time.Second, strand.ErrTimeout)
		defer stop()
	}
	env := &codec.Envelope{V: codec.Version, ID: c.id, Func: c.fn, Args: c.args, Kwargs: c.kwargs,
		TimeoutMS: c.timeout.Milliseconds(), Meta: c.meta}
	ctx = taskctx.WithProgress(ctx, h.report)
	res, err := child.Run(ctx, "", strand.Task{ID: c.id, Func: c.fn, Attempt: 1, Worker: "process"},
		env, c.format, h.emit)
	if err != nil {
		err = classify(ctx, c, err)
	}
	h.finish(res, err)
}

// ServeChild makes this process a task child when the environment says it
// is one (STRAND_CHILD=1): it reads one task envelope from stdin, runs it
// through reg, writes the outcome record to file descriptor 3 and exits.
// Elsewhere it returns false at once. Binaries that run process tasks call
// it first thing in main (tests in TestMain), before flags are parsed.
func ServeChild(reg *registry.Registry) bool {
	if !child.IsChild() {
		return false
	}
	os.Exit(child.Serve(func(ctx context.Context, env *codec.Envelope, f codec.Format, task strand.Task, emit func(codec.Raw) error) (codec.Raw, error) {
		c := &call{id: env.ID, fn: env.Func, format: f, args: env.Args, kwargs: env.Kwargs,
			timeout: time.Duration(env.TimeoutMS) * time.Millisecond, meta: env.Meta}
		return execute(ctx, reg, c, task, emit)
	}))
	return true
}
