package writer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

func TestPurge(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"add": func(a, b int) int { return a + b },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := env.Writer.Submit(ctx, "add", []any{1, 2}, strand.ID("purge-me"))
	if err != nil {
		t.Fatal(err)
	}
	if err := admin(h).Purge(ctx); !errors.Is(err, writer.ErrNotFinished) {
		t.Fatalf("purge of a pending task: %v", err)
	}
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin(h).Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusUnknown {
		t.Fatalf("status after purge: %s %v", st, err)
	}
	if err := admin(h).Purge(ctx); !errors.Is(err, strand.ErrNotFound) {
		t.Fatalf("second purge: %v", err)
	}
}

// admin is the admin side of a writer's handles, which moves to package
// inspect.
type adminHandle interface {
	Purge(ctx context.Context) error
	Resubmit(ctx context.Context) (strand.Handle, error)
}

func admin(h strand.Handle) adminHandle { return h.(adminHandle) }
