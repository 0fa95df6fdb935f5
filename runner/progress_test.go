package runner_test

import (
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/runner"
)

// Progress reported by a function reaches the caller on every local
// runner, from a child process too.
func TestProgressOnLocalRunners(t *testing.T) {
	t.Parallel()
	for _, rc := range runners {
		if rc.name == "nats" { // the NATS path has its own tests (writer.Handle.WatchProgress)
			continue
		}
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			var mu sync.Mutex
			var seen []codec.Progress
			h, err := r.Submit(ctx, "steps", 3, runner.OnProgress(func(p codec.Progress) {
				mu.Lock()
				seen = append(seen, p)
				mu.Unlock()
			}))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := h.Result(ctx, &n); err != nil || n != 3 {
				t.Fatalf("steps: %d %v", n, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 3 || seen[2] != (codec.Progress{Done: 3, Total: 3, Note: "step"}) {
				t.Fatalf("progress seen: %+v", seen)
			}
			last, err := h.(*runner.Handle).Progress(ctx)
			if err != nil || last == nil || last.Done != 3 {
				t.Fatalf("Handle.Progress: %+v %v", last, err)
			}
		})
	}
}
