package strandtest_test

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

// RunInline ends each handler as a real worker does: the same status, the
// same error kind and message, the same result and items.
func TestRunInlineAsAWorker(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	nums := func(n int, failAt int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := range n {
				if i == failAt {
					yield(0, boom)
					return
				}
				if !yield(i, nil) {
					return
				}
			}
		}
	}
	cases := []struct {
		name    string
		fn      any
		args    []any
		kwargs  any
		timeout time.Duration
	}{
		{"ok_add", func(a, b int) int { return a + b }, []any{2, 3}, nil, 0},
		{"ok_kwargs", func(s string, kw struct {
			N int `msgpack:"n"`
		}) []string {
			return []string{s, s}[:kw.N]
		}, []any{"x"}, map[string]any{"n": 2}, 0},
		{"ok_nothing", func() {}, []any{}, nil, 0},
		{"bad_args", func(a int) int { return a }, []any{"x"}, nil, 0},
		{"too_many_args", func(a int) int { return a }, []any{1, 2}, nil, 0},
		{"bad_kwargs", func(kw struct {
			N int `msgpack:"n"`
		}) int {
			return kw.N
		}, []any{}, map[string]any{"m": 1}, 0},
		{"plain_error", func() error { return boom }, []any{}, nil, 0},
		{"permanent", func() error { return strand.Permanent(boom) }, []any{}, nil, 0},
		{"panics", func() int { panic("oops") }, []any{}, nil, 0},
		{"times_out", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, []any{}, nil, 30 * time.Millisecond},
		{"items", nums, []any{4, -1}, nil, 0},
		{"items_fail", nums, []any{4, 2}, nil, 0},
		{"bad_result", func() any { return make(chan int) }, []any{}, nil, 0},
	}
	funcs := map[string]any{}
	for _, c := range cases {
		funcs[c.name] = c.fn
	}
	env := strandtest.New(t, scratch.Options{Funcs: funcs, Worker: reader.Config{Concurrency: 4}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := []strand.Option{}
			if c.kwargs != nil {
				opts = append(opts, strand.Kwargs(c.kwargs))
			}
			if c.timeout > 0 {
				opts = append(opts, strand.Timeout(c.timeout))
			}
			h, err := env.Writer.Submit(ctx, c.name, c.args, opts...)
			if err != nil {
				t.Fatal(err)
			}
			out := strandtest.WaitOutcome(t, h, 30*time.Second)
			var items []any
			for it, err := range h.Items(ctx) {
				if err != nil {
					break
				}
				var v any
				if err := it.Decode(&v); err != nil {
					t.Fatal(err)
				}
				items = append(items, v)
			}

			res := strandtest.RunInline(t, ctx, c.fn, strandtest.Inline{
				Args: c.args, Kwargs: c.kwargs, Timeout: c.timeout, Task: strand.Task{Func: c.name},
			})
			inlineItems := strandtest.Items[any](t, res)
			if len(inlineItems) == 0 {
				inlineItems = nil
			}
			if res.Status != out.Status {
				t.Errorf("status: inline %s, worker %s", res.Status, out.Status)
			}
			if errString(res.Err) != errString(out.Err) || strand.KindOf(res.Err) != strand.KindOf(out.Err) {
				t.Errorf("error: inline %v (%s), worker %v (%s)", res.Err, strand.KindOf(res.Err), out.Err, strand.KindOf(out.Err))
			}
			if !reflect.DeepEqual(inlineItems, items) {
				t.Errorf("items: inline %v, worker %v", inlineItems, items)
			}
			if out.Err == nil {
				var got, want any
				out.Decode(t, &want)
				res.Decode(t, &got)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("result: inline %#v, worker %#v", got, want)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
