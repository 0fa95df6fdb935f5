package strand

import (
	"context"

	"github.com/strand-run/strand/internal/taskctx"
)

// Progress reports how far the task of ctx has come: done of total units
// (total 0 when unknown), with an optional note. The worker stores it in
// the task's state record, at most every 100 ms and always the last
// report, where callers read or watch it. Outside a task it does nothing.
func Progress(ctx context.Context, done, total int64, note string) {
	if report := taskctx.Progress(ctx); report != nil {
		report(done, total, note)
	}
}
