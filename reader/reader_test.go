package reader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 10*time.Second)
	h, err := e.w.Submit(ctx, "add", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum != 5 {
		t.Fatalf("add(2,3) = %d", sum)
	}
	st, err := h.Status(ctx)
	if err != nil || st != strand.StatusCompleted {
		t.Fatalf("status %s %v", st, err)
	}
	_, err = e.w.Submit(ctx, "add", "x", 3)
	_ = err
	h2, _ := e.w.Submit(ctx, "add", "x", 3)
	err = h2.Result(ctx, &sum)
	if !errors.Is(err, strand.ErrBadArgs) || err.Error() != `add: arg 1: want int, got string "x"` {
		t.Fatalf("bad args: %v", err)
	}
	_ = context.Background
}
