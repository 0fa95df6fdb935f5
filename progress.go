package strand

import "context"

type progressKey struct{}

// ProgressFunc receives a handler's progress reports.
type ProgressFunc func(done, total int64, note string)

// WithProgress returns a context whose Progress reports go to report; workers
// call it before running a handler.
func WithProgress(ctx context.Context, report ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// Progress reports how far the task of ctx has come: done of total units
// (total 0 when unknown), with an optional note. The worker stores it in
// the task's state record, at most every 100 ms and always the last
// report, where callers read or watch it. Outside a task it does nothing.
func Progress(ctx context.Context, done, total int64, note string) {
	if report, ok := ctx.Value(progressKey{}).(ProgressFunc); ok && report != nil {
		report(done, total, note)
	}
}
