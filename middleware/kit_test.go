package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/opt"
	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// The allowlist's writer side refuses before anything is written: the
// refused task is not submitted, the allowed one is, with its caller.
func TestAllowlistWriterWritesNothingRefused(t *testing.T) {
	t.Parallel()
	allow := middleware.Allowlist{"svc-a": {"add"}}
	env := strandtest.New(t, scratch.Options{NoWorker: true, Writer: writer.Config{
		Caller: "svc-a", Middleware: []writer.Middleware{allow.Writer()},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := env.Writer.Submit(ctx, "sub", []any{5, 1}); !errors.Is(err, strand.ErrForbidden) {
		t.Fatalf("sub: %v", err)
	}
	if _, err := env.Writer.Submit(ctx, "add", []any{5, 1}); err != nil {
		t.Fatal(err)
	}
	env.RequireNotSubmitted(t, "sub", nil)
	env.RequireSubmitted(t, "add", &strandtest.Match{Args: []any{5, 1}, Meta: map[string]string{opt.MetaCaller: "svc-a"}})
}
