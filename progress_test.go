package strand_test

import (
	"context"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/taskctx"
)

func TestProgress(t *testing.T) {
	t.Parallel()
	strand.Progress(context.Background(), 1, 2, "outside a task: nothing happens")
	var got []int64
	ctx := taskctx.WithProgress(context.Background(), func(done, total int64, note string) {
		got = append(got, done, total)
	})
	strand.Progress(ctx, 3, 10, "step")
	if len(got) != 2 || got[0] != 3 || got[1] != 10 {
		t.Fatalf("reported %v", got)
	}
}
