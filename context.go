package strand

import (
	"context"

	"github.com/strand-run/strand/internal/taskctx"
)

// Task describes the task a handler is running: enough to make its work
// idempotent (at-least-once delivery can run a handler twice) and to log it.
type Task struct {
	ID      string            // the task id
	Func    string            // the function name
	Queue   string            // the queue it came from
	Attempt int               // 1 for the first run, 2 for the first rerun, …
	Worker  string            // the id of the worker running it
	Meta    map[string]string // the submitter's metadata
}

// TaskFrom returns the task that a handler's ctx belongs to, and false
// outside of a task.
func TaskFrom(ctx context.Context) (Task, bool) {
	t, ok := taskctx.Task(ctx).(Task)
	return t, ok
}
