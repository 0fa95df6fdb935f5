package strandtest_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// exampleT stands in for a test's *testing.T in these Examples, which have
// none: it panics where a test would fail and runs the cleanups at done.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// signup is code under test: it submits a task.
func signup(ctx context.Context, w *writer.Writer, email string) error {
	_, err := w.Submit(ctx, "welcome", []any{email}, strand.Queue("mail"), strand.Meta(map[string]string{"source": "web"}))
	return err
}

// A test gets its own strand in one call, asserts what the code under test
// submitted, and waits for the outcome.
func Example_requireSubmitted() {
	t := &exampleT{} // in a test: func TestSignup(t *testing.T)
	defer t.done()
	ctx := context.Background()

	env := strandtest.New(t, scratch.Options{
		Funcs:  map[string]any{"welcome": func(email string) string { return "sent to " + email }},
		Worker: reader.Config{Queues: []string{"mail"}},
	})
	if err := signup(ctx, env.Writer, "ann@example.com"); err != nil {
		t.Fatalf("signup: %v", err)
	}
	sub := env.RequireSubmitted(t, "welcome", &strandtest.Match{
		Args:  []any{"ann@example.com"},
		Queue: "mail",
		Meta:  map[string]string{"source": "web"},
	})
	env.RequireNotSubmitted(t, "welcome", &strandtest.Match{Args: []any{"bob@example.com"}})
	fmt.Println(sub.Func, sub.Queue)

	h, err := env.Writer.Open(sub.ID)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	out := strandtest.WaitOutcome(t, h, 10*time.Second)
	var s string
	out.Decode(t, &s)
	fmt.Println(out.Status, s)
	// Output:
	// welcome mail
	// completed sent to ann@example.com
}

// RunInline runs a handler inline, with no server, as a worker would: args
// encoded and decoded as on the wire, a task in its ctx, its progress
// reports and items kept.
func ExampleRunInline_items() {
	t := &exampleT{}
	defer t.done()
	ctx := context.Background()

	countdown := func(ctx context.Context, from int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := from; i > 0; i-- {
				strand.Progress(ctx, int64(from-i+1), int64(from), "")
				if !yield(i) {
					return
				}
			}
		}
	}
	res := strandtest.RunInline(t, ctx, countdown, strandtest.Inline{Args: []any{3}})
	fmt.Println(res.Status, strandtest.Items[int](t, res), len(res.Progress))

	res = strandtest.RunInline(t, ctx, countdown, strandtest.Inline{Args: []any{"three"}})
	fmt.Println(res.Status, errors.Is(res.Err, strand.ErrBadArgs), res.Err)
	// Output:
	// completed [3 2 1] 3
	// failed true handler: arg 1: want int, got string "three"
}

// RunInline sets the task the handler runs as (its attempt, meta, …), its
// kwargs and its timeout, and says what a worker would do with its error.
func ExampleRunInline() {
	t := &exampleT{}
	defer t.done()

	type opts struct {
		Limit int `msgpack:"limit"`
	}
	syncAccount := func(ctx context.Context, account string, o opts) (int, error) {
		task, _ := strand.TaskFrom(ctx)
		if task.Attempt < 2 {
			return 0, fmt.Errorf("%s: upstream busy", account)
		}
		return o.Limit, nil
	}
	for attempt := 1; attempt <= 2; attempt++ {
		res := strandtest.RunInline(t, context.Background(), syncAccount, strandtest.Inline{
			Args:        []any{"acme"},
			Kwargs:      map[string]any{"limit": 50},
			Task:        strand.Task{Func: "sync", Attempt: attempt},
			MaxAttempts: 3,
		})
		if res.Err != nil {
			fmt.Println(res.Status, res.Retryable, res.Err)
			continue
		}
		var n int
		res.Decode(t, &n)
		fmt.Println(res.Status, n)
	}
	// Output:
	// retrying true sync: acme: upstream busy
	// completed 50
}
