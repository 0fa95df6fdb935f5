package strandtest_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/opt"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// fakeTB records a helper's failure instead of failing the test; Fatalf
// ends the goroutine as testing.T's does.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// fails runs fn with a fakeTB and returns the failure message; the test
// fails if fn did not fail.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	if !f.failed {
		t.Fatal("the helper did not fail the test")
	}
	return f.msg
}

// badArg cannot be encoded.
type badArg struct{}

func (badArg) MarshalMsgpack() ([]byte, error) { return nil, errors.New("cannot encode") }

type resizeKw struct {
	Width  int    `msgpack:"width"`
	Format string `msgpack:"format,omitempty"`
}

func TestRequireSubmitted(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := env.Writer.Submit(ctx, "add", []any{2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Writer.Submit(ctx, "resize", []any{"a.png"}, strand.Kwargs(resizeKw{Width: 640}), strand.Queue("images"), strand.Meta(map[string]string{"user": "ann", "trace": "x"}), strand.MaxAttempts(3)); err != nil {
		t.Fatal(err)
	}

	sub := env.RequireSubmitted(t, "add", &strandtest.Match{Args: []any{int64(2), uint8(3)}})
	var a int
	if err := sub.Args[0].Decode(&a); err != nil || a != 2 || sub.Queue != "default" || len(sub.Args) != 2 || sub.Kwargs != nil {
		t.Fatalf("submission %v: arg %d %v", sub, a, err)
	}
	env.RequireSubmitted(t, "add", nil)
	env.RequireSubmitted(t, "resize", &strandtest.Match{
		Args:   []any{"a.png"},
		Kwargs: map[string]any{"width": 640}, // the struct's wire names
		Queue:  "images",
		Meta:   map[string]string{"user": "ann"},
	})
	res := env.RequireSubmitted(t, "resize", &strandtest.Match{Kwargs: resizeKw{Width: 640}})
	var kw resizeKw
	if err := res.Kwargs.Decode(&kw); err != nil || kw.Width != 640 || res.MaxAttempts != 3 {
		t.Fatalf("kwargs %+v %v, attempts %d", kw, err, res.MaxAttempts)
	}

	env.RequireNotSubmitted(t, "add", &strandtest.Match{Args: []any{3, 2}})
	env.RequireNotSubmitted(t, "add", &strandtest.Match{Args: []any{}})
	env.RequireNotSubmitted(t, "add", &strandtest.Match{Queue: "images"})
	env.RequireNotSubmitted(t, "resize", &strandtest.Match{Meta: map[string]string{"user": "bob"}})
	env.RequireNotSubmitted(t, "resize", &strandtest.Match{Kwargs: map[string]any{"width": 320}})
	env.RequireNotSubmitted(t, "mul", nil)

	msg := fails(t, func(tb testing.TB) {
		env.RequireSubmitted(tb, "add", &strandtest.Match{Args: []any{2, 4}})
	})
	for _, want := range []string{"no task add with args [2 4] was submitted", "add(2, 3) id ", `resize("a.png", kwargs={"width":640}) id `, "on images"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure %q lacks %q", msg, want)
		}
	}
	msg = fails(t, func(tb testing.TB) { env.RequireNotSubmitted(tb, "add", nil) })
	if !strings.Contains(msg, "a task add was submitted: add(2, 3)") {
		t.Errorf("failure %q", msg)
	}
	msg = fails(t, func(tb testing.TB) {
		env.RequireSubmitted(tb, "add", &strandtest.Match{Args: []any{badArg{}, 3}})
	})
	if !strings.Contains(msg, "arg 1: ") || !strings.Contains(msg, "cannot encode") {
		t.Errorf("failure %q", msg)
	}

	empty := strandtest.New(t, scratch.Options{NoWorker: true})
	msg = fails(t, func(tb testing.TB) { empty.RequireSubmitted(tb, "add", nil) })
	if !strings.Contains(msg, "nothing was submitted") {
		t.Errorf("failure %q", msg)
	}
}

// A refused submission is not recorded; a batch, JSON tasks and a second
// writer's tasks are.
func TestRecorderSources(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Writer: writer.Config{JSON: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := env.Writer.Submit(ctx, "echo", []any{map[string]any{"a": []int{1, 2}}}, strand.ID("once")); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Writer.Submit(ctx, "echo", []any{"again"}, strand.ID("once")); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("resubmit: %v", err)
	}
	env.RequireSubmitted(t, "echo", &strandtest.Match{Args: []any{map[string]any{"a": []int64{1, 2}}}})
	env.RequireNotSubmitted(t, "echo", &strandtest.Match{Args: []any{"again"}})

	// A writer of one's own records into the env with its middleware.
	w2, err := writer.New(env.Broker, writer.Config{Caller: "svc-b", Middleware: []writer.Middleware{env.Middleware()}})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if _, errs := w2.SubmitBatch(ctx, []writer.Call{{Func: "add", Args: []any{1, 2}}, {Func: "add", Args: []any{3, 4}}}); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	env.RequireSubmitted(t, "add", &strandtest.Match{Args: []any{3, 4}, Meta: map[string]string{opt.MetaCaller: "svc-b"}})
	env.RequireSubmitted(t, "add", &strandtest.Match{Args: []any{1, 2}})
	msg := fails(t, func(tb testing.TB) { env.RequireSubmitted(tb, "none", nil) })
	if strings.Count(msg, "\n\t") != 3 {
		t.Fatalf("the failure lists %d submissions, want 3: %s", strings.Count(msg, "\n\t"), msg)
	}
}

func TestWaitOutcome(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{Funcs: map[string]any{
		"add": func(a, b int) int { return a + b },
		"count": func(n int) iter.Seq[int] {
			return func(yield func(int) bool) {
				for i := range n {
					if !yield(i) {
						return
					}
				}
			}
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := env.Writer.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	out := strandtest.WaitOutcome(t, h, 20*time.Second)
	var sum int
	out.Decode(t, &sum)
	if sum != 5 || out.Status != strand.StatusCompleted || out.Err != nil || out.Attempt != 1 || out.Worker == "" {
		t.Fatalf("outcome %+v, sum %d", out, sum)
	}

	h, _ = env.Writer.Submit(ctx, "add", []any{"x", 3})
	out = strandtest.WaitOutcome(t, h, 20*time.Second)
	if out.Status != strand.StatusFailed || !errors.Is(out.Err, strand.ErrBadArgs) {
		t.Fatalf("outcome %+v", out)
	}
	if msg := fails(t, func(tb testing.TB) { out.Decode(tb, &sum) }); !strings.Contains(msg, "did not complete (failed): add: arg 1") {
		t.Errorf("failure %q", msg)
	}

	h, _ = env.Writer.Submit(ctx, "count", []any{4})
	if out = strandtest.WaitOutcome(t, h, 20*time.Second); out.Items != 4 {
		t.Fatalf("outcome %+v", out)
	}
	if msg := fails(t, func(tb testing.TB) { strandtest.Items[int](tb, out) }); !strings.Contains(msg, "strand.Items on its handle") {
		t.Errorf("Items of a waited task: %q", msg)
	}

	// The handles of package runner.
	reg := registry.New()
	reg.MustRegister("greet", func(s string) (string, error) {
		if s == "" {
			return "", strand.Permanent(errors.New("no name"))
		}
		return "hi " + s, nil
	})
	rh, err := runner.Inline(reg).Submit(ctx, "greet", []any{"ann"})
	if err != nil {
		t.Fatal(err)
	}
	out = strandtest.WaitOutcome(t, rh, time.Second)
	var s string
	out.Decode(t, &s)
	if s != "hi ann" || out.Status != strand.StatusCompleted {
		t.Fatalf("outcome %+v %q", out, s)
	}
	rh, _ = runner.Inline(reg).Submit(ctx, "greet", []any{""})
	if out = strandtest.WaitOutcome(t, rh, time.Second); out.Status != strand.StatusFailed || out.Err.Error() != "greet: no name" {
		t.Fatalf("outcome %+v", out)
	}
}

func TestWaitOutcomeTimesOut(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := env.Writer.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	msg := fails(t, func(tb testing.TB) { strandtest.WaitOutcome(tb, h, 200*time.Millisecond) })
	if want := "task " + h.ID() + " has no outcome after 200ms: still pending"; msg != "strandtest: "+want {
		t.Fatalf("failure %q, want %q", msg, want)
	}
	// The handle of Open finds the task too.
	env.RequireSubmitted(t, "add", nil)
	oh, err := env.Writer.Open(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	msg = fails(t, func(tb testing.TB) { strandtest.WaitOutcome(tb, oh, 100*time.Millisecond) })
	if !strings.Contains(msg, "still pending") {
		t.Fatalf("failure %q", msg)
	}
}

func TestWaitSubmitted(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, err := env.Writer.Submit(ctx, "later", []any{1})
		done <- err
	}()
	sub := env.RequireSubmitted(t, "later", &strandtest.Match{Args: []any{1}, Within: 20 * time.Second})
	if err := <-done; err != nil || sub.Func != "later" {
		t.Fatalf("%v %+v", err, sub)
	}
	msg := fails(t, func(tb testing.TB) {
		env.RequireSubmitted(tb, "later", &strandtest.Match{Args: []any{2}, Within: 50 * time.Millisecond})
	})
	if !strings.Contains(msg, "no task later with args [2] was submitted within 50ms; submitted:\n\tlater(1)") {
		t.Fatalf("failure %q", msg)
	}
}
