package inspect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

func TestPurge(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"add": func(a, b int) int { return a + b },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := newInspector(t, env.Env)
	h, err := env.Writer.Submit(ctx, "add", []any{1, 2}, strand.ID("purge-me"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actOne(ctx, in, "delete", h.ID()); !errors.Is(err, inspect.ErrWrongState) {
		t.Fatalf("purge of a pending task: %v", err)
	}
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := actOne(ctx, in, "delete", h.ID()); err != nil {
		t.Fatal(err)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusUnknown {
		t.Fatalf("status after purge: %s %v", st, err)
	}
	if _, err := actOne(ctx, in, "delete", h.ID()); !errors.Is(err, strand.ErrNotFound) {
		t.Fatalf("second purge: %v", err)
	}
	if _, err := actOne(ctx, in, "delete", "no such/id"); err == nil {
		t.Fatal("purge of a malformed id")
	}
}
