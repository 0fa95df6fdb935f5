package writer

import (
	"context"

	strand "github.com/strand-run/strand"
)

// Runner is w as a strand.Runner (the original's "store" target): the same
// call shape as the inline, pool and process runners of package runner,
// with tasks run by NATS workers. Its Submit takes this package's Options
// among the args, as Writer.Submit does, and returns a *Handle.
func (w *Writer) Runner() strand.Runner { return natsRunner{w} }

type natsRunner struct{ w *Writer }

func (r natsRunner) Submit(ctx context.Context, fn string, args ...any) (strand.Handle, error) {
	h, err := r.w.Submit(ctx, fn, args...)
	if err != nil {
		return nil, err
	}
	return h, nil
}

var _ strand.Handle = (*Handle)(nil)
