package runner_test

import (
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// Progress reported by a function reaches the caller on every local
// runner, from a child process too: Progress, Info and WatchProgress.
func TestProgressOnLocalRunners(t *testing.T) {
	t.Parallel()
	for _, rc := range local() {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			h, err := r.Submit(ctx, "steps", []any{3})
			if err != nil {
				t.Fatal(err)
			}
			var seen []strand.Report
			o, err := h.WatchProgress(ctx, func(p strand.Report) { seen = append(seen, p) })
			if err != nil || o.Status != strand.StatusCompleted {
				t.Fatalf("watch: %+v, %v", o, err)
			}
			if len(seen) == 0 || seen[len(seen)-1].Done != 3 || seen[len(seen)-1].At.IsZero() {
				t.Fatalf("progress seen: %+v", seen)
			}
			last, err := h.Progress(ctx)
			if err != nil || last == nil || *last != seen[len(seen)-1] {
				t.Fatalf("Handle.Progress: %+v %v", last, err)
			}
			in, err := h.Info(ctx)
			if err != nil || in.Progress == nil || in.Progress.Done != 3 || in.Attempt != 1 || in.Started.IsZero() || in.Finished.Before(in.Started) {
				t.Fatalf("Info: %+v %v", in, err)
			}
			h, err = r.Submit(ctx, "add", []any{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			if p, err := h.Progress(ctx); p != nil || err != nil {
				t.Errorf("no report: %+v %v", p, err)
			}
		})
	}
}
