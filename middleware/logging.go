package middleware

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
)

// outcome names how a handler call ended, for logs and metrics:
// "completed", or the error's kind (strand.KindOf: "error", "panic",
// "timeout", "cancelled", "forbidden", …).
func outcome(err error) string {
	if err == nil {
		return string(strand.StatusCompleted)
	}
	return string(strand.KindOf(err))
}

// Logging logs every task a worker runs once it ends, with the fields
// task_id, func, queue, attempt, duration and outcome (and error): at info
// level when it completed, at warn level when it did not.
func Logging(log zerolog.Logger) reader.Middleware {
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			start := time.Now()
			v, err := next(ctx, c)
			ev := log.Info()
			if err != nil {
				ev = log.Warn().Err(err)
			}
			ev.Str("task_id", c.Task.ID).Str("func", c.Task.Func).Str("queue", c.Task.Queue).
				Int("attempt", c.Task.Attempt).Dur("duration", time.Since(start)).
				Str("outcome", outcome(err)).Msg("task ran")
			return v, err
		}
	}
}
