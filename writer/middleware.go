package writer

import (
	"context"
	"time"

	strand "github.com/strand-run/strand"
)

// Envelope is a task on its way to the server, as writer middleware sees
// it. Middleware may change Meta and Trace (what it leaves there is what
// the task carries); the other fields are for reading.
type Envelope struct {
	ID    string
	Func  string
	Queue string
	// Meta is the task's string metadata (strand.Meta, and the caller under
	// "caller"); nil when it has none.
	Meta map[string]string
	// Trace is the W3C traceparent the task carries ("" for none).
	Trace string
	// Encoding names the codec of its args and result: "msgpack", "json",
	// or a registered one.
	Encoding string
	// MaxAttempts is the task's cap on attempts (0: the worker's default).
	MaxAttempts int
	// Timeout is the task's time limit per attempt (0: none).
	Timeout time.Duration
	// Args are the task's positional args and Kwargs its keyword args
	// (strand.Kwargs; nil when it has none), as encoded: Decode one into a
	// Go value.
	Args   []strand.Value
	Kwargs strand.Value
}

// SubmitFunc writes one task. Middleware may change the envelope's Meta or
// Trace before it calls the next SubmitFunc, or refuse the task by
// returning an error without calling it.
//
// In Submit the innermost SubmitFunc returns once the server has stored the
// task (or refused it); in SubmitBatch, once the write is queued (the batch
// sends every write and awaits every acknowledgement together afterwards),
// so a batch write the server refuses is reported in SubmitBatch's errors,
// not to the middleware.
type SubmitFunc func(ctx context.Context, e *Envelope) error

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
