package writer

import (
	"context"

	"github.com/strand-run/strand/codec"
)

// SubmitFunc writes one task: its envelope, in format f. Middleware may
// change the envelope (its Meta, say) before it calls the next SubmitFunc,
// or refuse the task by returning an error without calling it.
//
// In Submit the innermost SubmitFunc returns once the server has stored the
// task (or refused it); in SubmitBatch, once the write is queued (the batch
// sends every write and awaits every acknowledgement together afterwards),
// so a batch write the server refuses is reported in SubmitBatch's errors,
// not to the middleware.
type SubmitFunc func(ctx context.Context, env *codec.Envelope, f codec.Format) error

// Middleware wraps every submission of a writer (Config.Middleware, the
// outermost first), as net/http middleware wraps a handler.
type Middleware func(next SubmitFunc) SubmitFunc

// wrap puts the writer's middleware around next.
func (w *Writer) wrap(next SubmitFunc) SubmitFunc {
	for i := len(w.cfg.Middleware) - 1; i >= 0; i-- {
		next = w.cfg.Middleware[i](next)
	}
	return next
}
