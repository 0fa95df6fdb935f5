package strandtest_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/strandtest"
)

func TestWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res := strandtest.RunInline(t, ctx, func(a, b int) int { return a + b }, strandtest.Inline{Args: []any{2, 3}})
	var sum int
	res.Decode(t, &sum)
	if sum != 5 || res.Status != strand.StatusCompleted || res.Err != nil {
		t.Fatalf("%+v", res)
	}
	if res.Task.Func != "handler" || res.Task.Queue != "default" || res.Task.Attempt != 1 ||
		res.Task.Worker != "strandtest" || !strings.HasPrefix(res.Task.ID, "strandtest-") {
		t.Fatalf("task %+v", res.Task)
	}
	// No args, no result.
	if res := strandtest.RunInline(t, ctx, func() {}, strandtest.Inline{}); res.Status != strand.StatusCompleted {
		t.Fatalf("%+v", res)
	}
}

// The handler sees the task, its progress reports are kept, kwargs decode
// by their tags.
func TestRunInlineTaskContext(t *testing.T) {
	t.Parallel()
	type opts struct {
		Scale int `msgpack:"scale"`
	}
	var seen strand.Task
	fn := func(ctx context.Context, steps int, o opts) (string, error) {
		seen, _ = strand.TaskFrom(ctx)
		for i := 1; i <= steps; i++ {
			strand.Progress(ctx, int64(i), int64(steps), fmt.Sprintf("step %d", i))
		}
		return fmt.Sprintf("%d×%d by %s", steps, o.Scale, seen.Meta["user"]), nil
	}
	for _, json := range []bool{false, true} {
		res := strandtest.RunInline(t, context.Background(), fn, strandtest.Inline{
			Args:   []any{3},
			Kwargs: map[string]any{"scale": 10},
			Task:   strand.Task{ID: "t-1", Func: "scaled", Queue: "q", Attempt: 2, Meta: map[string]string{"user": "ann"}},
			JSON:   json,
		})
		var s string
		res.Decode(t, &s)
		want := strand.Task{ID: "t-1", Func: "scaled", Queue: "q", Attempt: 2, Worker: "strandtest", Meta: map[string]string{"user": "ann"}}
		if s != "3×10 by ann" || !reflect.DeepEqual(seen, want) || !reflect.DeepEqual(res.Task, want) {
			t.Fatalf("json %v: %q, saw %+v", json, s, seen)
		}
		wantP := []strand.Report{{Done: 1, Total: 3, Note: "step 1"}, {Done: 2, Total: 3, Note: "step 2"}, {Done: 3, Total: 3, Note: "step 3"}}
		got := slices.Clone(res.Progress)
		for i := range got {
			if got[i].At.IsZero() {
				t.Fatalf("report %d has no time", i)
			}
			got[i].At = time.Time{}
		}
		if !reflect.DeepEqual(got, wantP) {
			t.Fatalf("progress %+v", res.Progress)
		}
	}
}

func TestRunInlineItems(t *testing.T) {
	t.Parallel()
	count := func(n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := range n {
				if i == 3 {
					yield(0, errors.New("three is too many"))
					return
				}
				if !yield(i*i, nil) {
					return
				}
			}
		}
	}
	res := strandtest.RunInline(t, context.Background(), count, strandtest.Inline{Args: []any{3}})
	if got := strandtest.Items[int](t, res); !reflect.DeepEqual(got, []int{0, 1, 4}) || res.Status != strand.StatusCompleted {
		t.Fatalf("items %v, %+v", got, res)
	}
	res = strandtest.RunInline(t, context.Background(), count, strandtest.Inline{Args: []any{5}})
	if got := strandtest.Items[int](t, res); !reflect.DeepEqual(got, []int{0, 1, 4}) || res.Status != strand.StatusFailed || res.Err.Error() != "handler: three is too many" {
		t.Fatalf("items %v, %+v", got, res)
	}
	if msg := fails(t, func(tb testing.TB) { strandtest.Items[string](tb, res) }); !strings.Contains(msg, "decode item 0") {
		t.Fatal(msg)
	}
}

func TestRunInlineFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		fn         any
		in         strandtest.Inline
		status     strand.Status
		kind, msg  string
		retryable  bool
		retryAfter time.Duration
	}{
		{"bad args", func(a int) int { return a }, strandtest.Inline{Args: []any{"x"}},
			strand.StatusFailed, string(strand.ErrBadArgs), `handler: arg 1: want int, got string "x"`, false, 0},
		{"error", func() error { return boom }, strandtest.Inline{},
			strand.StatusFailed, string(strand.ErrFailed), "handler: boom", true, 0},
		{"error retried", func() error { return boom }, strandtest.Inline{MaxAttempts: 3},
			strand.StatusRetrying, string(strand.ErrFailed), "handler: boom", true, 0},
		{"error on the last attempt", func() error { return boom }, strandtest.Inline{MaxAttempts: 3, Task: strand.Task{Attempt: 3}},
			strand.StatusDead, string(strand.ErrFailed), "handler: boom", true, 0},
		{"permanent", func() error { return strand.Permanent(boom) }, strandtest.Inline{MaxAttempts: 3},
			strand.StatusFailed, string(strand.ErrFailed), "handler: boom", false, 0},
		{"retry after", func() error { return strand.Retry(boom, time.Minute) }, strandtest.Inline{MaxAttempts: 2},
			strand.StatusRetrying, string(strand.ErrFailed), "handler: boom", true, time.Minute},
		{"panic", func() { panic("oops") }, strandtest.Inline{},
			strand.StatusFailed, string(strand.ErrPanic), "handler: panic: oops", true, 0},
		{"timeout", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, strandtest.Inline{Timeout: 20 * time.Millisecond},
			strand.StatusFailed, string(strand.ErrTimeout), "handler: timed out after 20ms", true, 0},
		{"unencodable result", func() any { return func() {} }, strandtest.Inline{Task: strand.Task{Func: "f"}},
			strand.StatusFailed, string(strand.ErrFailed), "f: encode result func()", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := strandtest.RunInline(t, ctx, tc.fn, tc.in)
			var te *strand.TaskError
			if !errors.As(res.Err, &te) || string(te.Kind) != tc.kind || !strings.HasPrefix(te.Message, tc.msg) ||
				res.Status != tc.status || res.Retryable != tc.retryable || res.RetryAfter != tc.retryAfter {
				t.Fatalf("%+v: %#v", res, res.Err)
			}
		})
	}
}

func TestRunInlineCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	res := strandtest.RunInline(t, ctx, func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}, strandtest.Inline{})
	if res.Status != strand.StatusCancelled || !errors.Is(res.Err, strand.ErrCancelled) || res.Err.Error() != "handler: cancelled by caller" {
		t.Fatalf("%+v", res)
	}
}

// A typed task runs under its name; a non-handler fails the test.
func TestRunInlineTyped(t *testing.T) {
	t.Parallel()
	type mulArgs struct {
		A int `msgpack:"a"`
		B int `msgpack:"b"`
	}
	mul := strand.NewFunc("mul", func(_ context.Context, in mulArgs) (int, error) { return in.A * in.B, nil })
	res := strandtest.RunInline(t, context.Background(), mul, strandtest.Inline{Kwargs: mulArgs{A: 6, B: 7}})
	var p int
	res.Decode(t, &p)
	if p != 42 || res.Task.Func != "mul" {
		t.Fatalf("%d %+v", p, res.Task)
	}
	if msg := fails(t, func(tb testing.TB) { strandtest.RunInline(tb, context.Background(), 42, strandtest.Inline{}) }); !strings.Contains(msg, "strandtest: register") {
		t.Fatal(msg)
	}
	if msg := fails(t, func(tb testing.TB) {
		res := strandtest.RunInline(tb, context.Background(), mul, strandtest.Inline{Kwargs: map[string]any{"a": 6, "b": "x"}})
		res.Decode(tb, &p)
	}); !strings.Contains(msg, "mul did not complete (failed): mul: kwargs") {
		t.Fatal(msg)
	}
}
