package reader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
)

// Middleware reads a task's arguments through the Call, in either format,
// without the wire's types.
func TestCallDecodesArgs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	type seen struct {
		n      int
		x      float64
		kw     map[string]any
		kwS    scaleOpts
		outErr error
		queued time.Time
	}
	got := make(chan seen, 4)
	mw := func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			var s seen
			s.n = len(c.Args)
			if err := c.Args[0].Decode(&s.x); err != nil {
				return nil, err
			}
			if c.Kwargs != nil {
				if err := c.Kwargs.Decode(&s.kw); err != nil {
					return nil, err
				}
				if err := c.Kwargs.Decode(&s.kwS); err != nil {
					return nil, err
				}
			}
			var wrong struct{ X []string }
			s.outErr = c.Args[0].Decode(&wrong) // a number is no struct
			s.queued = c.Queued
			got <- s
			return next(ctx, c)
		}
	}
	e.worker(reader.Config{Middleware: []reader.Middleware{mw}})
	ctx := ctxT(t, 30*time.Second)
	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		h, err := e.w.Submit(ctx, "scale", []any{1.5}, strand.Kwargs(map[string]any{"scale": 2, "label": "x"}), strand.Encoding(f.String()))
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if err := h.Result(ctx, &out); err != nil || out != "x=3" {
			t.Fatalf("%v: result %q %v", f, out, err)
		}
		s := <-got
		if s.n != 1 || s.x != 1.5 || s.kwS != (scaleOpts{Scale: 2, Label: "x"}) || s.kw["label"] != "x" {
			t.Errorf("%v: middleware saw %+v", f, s)
		}
		if !errors.Is(s.outErr, strand.ErrBadArgs) {
			t.Errorf("%v: an arg decoded into the wrong type: %v, want ErrBadArgs", f, s.outErr)
		}
		if s.queued.IsZero() || time.Since(s.queued) > time.Minute {
			t.Errorf("%v: Queued = %v", f, s.queued)
		}
	}
	// No kwargs: Kwargs is nil.
	h, err := e.w.Submit(ctx, "scale", []any{2.0})
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Result(ctx, nil)
	if s := <-got; s.kw != nil || s.x != 2 {
		t.Errorf("without kwargs, middleware saw %+v", s)
	}
}
