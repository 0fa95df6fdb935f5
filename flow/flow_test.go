package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/internal/flowdoc"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// calls counts the runs of each task id, by attempt.
type calls struct {
	mu   sync.Mutex
	runs map[string][]int
}

func (c *calls) add(ctx context.Context) {
	t, _ := strand.TaskFrom(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string][]int{}
	}
	c.runs[t.ID] = append(c.runs[t.ID], t.Attempt)
}

func (c *calls) of(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs[id])
}

// client submits and opens workflows through one writer.
type client struct{ w *writer.Writer }

func (c client) Submit(ctx context.Context, d *flow.Definition) (*handle, error) {
	h, err := flow.Submit(ctx, c.w, d)
	if h == nil {
		return nil, err
	}
	return &handle{h}, err
}

func (c client) Open(ctx context.Context, id string) (*handle, error) {
	h, err := flow.Open(ctx, c.w, id)
	if h == nil {
		return nil, err
	}
	return &handle{h}, err
}

// handle is a workflow's strand.Handle whose Status and Wait give the
// workflow's flow.Status, steps included.
type handle struct{ strand.Handle }

func (h *handle) Status(ctx context.Context) (*flow.Status, error) {
	return flow.StatusOf(ctx, h.Handle)
}

func (h *handle) Wait(ctx context.Context) (*flow.Status, error) {
	if _, err := h.Handle.Wait(ctx); err != nil {
		return nil, err
	}
	return flow.StatusOf(ctx, h.Handle)
}

func setup(t *testing.T, funcs map[string]any, json bool) (*strandtest.Env, client) {
	t.Helper()
	env := strandtest.New(t, scratch.Options{Funcs: funcs, Writer: writer.Config{JSON: json}})
	return env, client{env.Writer}
}

// pass sets how s receives its parents' results.
func pass(s *flow.Step, results string) *flow.Step { s.Results = results; return s }

func wait(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestChainPassesResults(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", js), func(t *testing.T) {
			t.Parallel()
			_, c := setup(t, map[string]any{"add": demo.Add}, js)
			ctx := wait(t)
			h, err := c.Submit(ctx, flow.Chain(
				flow.Call("a", "add", 1, 2),
				flow.Call("b", "add", 10),
				flow.Call("c", "add", 100),
			))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := h.Result(ctx, &n); err != nil {
				t.Fatal(err)
			}
			if n != 113 {
				t.Fatalf("chain gave %d, want 113", n)
			}
			st, err := h.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != strand.StatusCompleted || len(st.Steps) != 3 {
				t.Fatalf("status %+v", st)
			}
			for i, want := range []string{"3", "13", "113"} {
				if s := st.Steps[i]; s.Status != strand.StatusCompleted || string(s.Result) != want {
					t.Errorf("step %s: %s %s, want completed %s", s.Name, s.Status, s.Result, want)
				}
			}
		})
	}
}

func TestChordOf100InOrder(t *testing.T) {
	t.Parallel()
	var got []int
	var runs atomic.Int32
	_, c := setup(t, map[string]any{
		"id": func(n int) int { return n },
		"collect": func(xs []int) int {
			runs.Add(1)
			got = xs
			return len(xs)
		},
	}, false)
	ctx := wait(t)
	var steps []*flow.Step
	for i := range 100 {
		steps = append(steps, flow.Call(fmt.Sprintf("p%03d", 99-i), "id", i))
	}
	h, err := c.Submit(ctx, flow.New(steps...).Then(flow.Call("cb", "collect")))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.Result(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if n != 100 || runs.Load() != 1 {
		t.Fatalf("callback saw %d results in %d runs", n, runs.Load())
	}
	for i, x := range got {
		if x != i {
			t.Fatalf("result %d is %d: not in the group's order (%v)", i, x, got)
		}
	}
}

func TestDiamondRunsJoinOnce(t *testing.T) {
	t.Parallel()
	var cl calls
	var mu sync.Mutex
	var dArgs [][]int
	_, c := setup(t, map[string]any{
		"add": func(ctx context.Context, a, b int) int { cl.add(ctx); return a + b },
		"join": func(ctx context.Context, b, c int) int {
			cl.add(ctx)
			mu.Lock()
			dArgs = append(dArgs, []int{b, c})
			mu.Unlock()
			return b * c
		},
	}, false)
	ctx := wait(t)
	for range 5 {
		h, err := c.Submit(ctx, flow.New(
			flow.Call("a", "add", 1, 1),
			flow.Call("b", "add", 10).After("a"),
			flow.Call("c", "add", 20).After("a"),
			flow.Call("d", "join").After("b", "c"),
		))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := h.Result(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n != 12*22 {
			t.Fatalf("d gave %d, want %d", n, 12*22)
		}
		if got := cl.of(codec.StepID(h.ID(), "d")); got != 1 {
			t.Fatalf("d ran %d times", got)
		}
	}
	for _, a := range dArgs {
		if a[0] != 12 || a[1] != 22 {
			t.Fatalf("d got %v, want [12 22]", a)
		}
	}
}

func TestKwargsAndListPassing(t *testing.T) {
	t.Parallel()
	type kw struct {
		X     int `msgpack:"x"`
		Y     int `msgpack:"y"`
		Scale int `msgpack:"scale"`
	}
	_, c := setup(t, map[string]any{
		"add":   demo.Add,
		"sum":   demo.Sum,
		"scale": func(k kw) int { return (k.X + k.Y) * k.Scale },
		"const": func() int { return 7 },
	}, true)
	ctx := wait(t)
	h, err := c.Submit(ctx, flow.New(
		flow.Call("x", "add", 1, 2),
		flow.Call("y", "add", 3, 4),
		pass(flow.Call("s", "scale").After("x", "y"), "kwargs").With(strand.Kwargs(map[string]int{"scale": 10})),
		pass(flow.Call("l", "sum").After("x", "y"), "list"),
		pass(flow.Call("n", "const").After("s", "l"), "none"),
	))
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"x": "3", "y": "7", "s": "100", "l": "10", "n": "7"}
	for _, s := range st.Steps {
		if s.Status != strand.StatusCompleted || string(s.Result) != want[s.Name] {
			t.Errorf("step %s: %s %s %+v, want %s", s.Name, s.Status, s.Result, s.Err, want[s.Name])
		}
	}
}

func TestFailureCancelsDependants(t *testing.T) {
	t.Parallel()
	var cl calls
	_, c := setup(t, map[string]any{
		"add":  func(ctx context.Context, a, b int) int { cl.add(ctx); return a + b },
		"fail": func(ctx context.Context, _ int) (int, error) { cl.add(ctx); return 0, errors.New("boom") },
		"slow": func(ctx context.Context) (int, error) {
			cl.add(ctx)
			<-ctx.Done()
			return 0, ctx.Err()
		},
	}, false)
	ctx := wait(t)
	h, err := c.Submit(ctx, flow.New(
		flow.Call("a", "add", 1, 1),
		flow.Call("bad", "fail").After("a"),
		flow.Call("after_bad", "add", 1).After("bad"),
		flow.Call("last", "add", 1).After("after_bad"),
		flow.Call("other", "slow"),
	))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx, nil)
	var te *strand.TaskError
	if !errors.As(err, &te) || te.Kind != strand.ErrFailed {
		t.Fatalf("Result: %v", err)
	}
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != strand.StatusFailed || st.Step != "bad" || st.Err == nil || st.Err.Error() != "fail: boom" {
		t.Fatalf("workflow %s at %q (%+v), want failed at bad", st.Status, st.Step, st.Err)
	}
	want := map[string]strand.Status{"a": strand.StatusCompleted, "bad": strand.StatusFailed,
		"after_bad": strand.StatusCancelled, "last": strand.StatusCancelled}
	for _, s := range st.Steps {
		if w, ok := want[s.Name]; ok && s.Status != w {
			t.Errorf("step %s: %s, want %s", s.Name, s.Status, w)
		}
	}
	if n := cl.of(codec.StepID(h.ID(), "after_bad")) + cl.of(codec.StepID(h.ID(), "last")); n != 0 {
		t.Fatalf("dependants of the failed step ran %d times", n)
	}
	// The default policy stops the unrelated branch too: "other" ends cancelled.
	waitStep(t, ctx, h, "other", strand.StatusCancelled)
}

func TestFailureContinuesOtherBranches(t *testing.T) {
	t.Parallel()
	_, c := setup(t, map[string]any{
		"add":  demo.Add,
		"fail": func(int) (int, error) { return 0, errors.New("boom") },
		"slow": func(ctx context.Context, x int) int { time.Sleep(200 * time.Millisecond); return x * 2 },
	}, false)
	ctx := wait(t)
	d := flow.New(
		flow.Call("a", "add", 1, 1),
		flow.Call("bad", "fail").After("a"),
		flow.Call("after_bad", "add", 1).After("bad"),
		flow.Call("ok", "slow").After("a"),
		flow.Call("ok2", "add", 1).After("ok"),
		flow.Call("join", "add").After("ok2", "after_bad"),
	)
	d.OnFailure = "continue"
	h, err := c.Submit(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != strand.StatusFailed || st.Step != "bad" {
		t.Fatalf("workflow %s at %q, want failed at bad", st.Status, st.Step)
	}
	want := map[string]strand.Status{"a": strand.StatusCompleted, "bad": strand.StatusFailed,
		"after_bad": strand.StatusCancelled, "ok": strand.StatusCompleted, "ok2": strand.StatusCompleted, "join": strand.StatusCancelled}
	for _, s := range st.Steps {
		if s.Status != want[s.Name] {
			t.Errorf("step %s: %s, want %s", s.Name, s.Status, want[s.Name])
		}
	}
}

func waitStep(t *testing.T, ctx context.Context, h *handle, name string, want strand.Status) {
	t.Helper()
	for {
		st, err := h.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Steps {
			if s.Name == name && s.Status == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("step %s never became %s: %+v", name, want, st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestCancelMidFlow(t *testing.T) {
	t.Parallel()
	var cl calls
	started := make(chan struct{}, 1)
	_, c := setup(t, map[string]any{
		"add": func(ctx context.Context, a, b int) int { cl.add(ctx); return a + b },
		"block": func(ctx context.Context, _ int) (int, error) {
			cl.add(ctx)
			started <- struct{}{}
			<-ctx.Done()
			return 0, ctx.Err()
		},
	}, false)
	ctx := wait(t)
	h, err := c.Submit(ctx, flow.Chain(
		flow.Call("a", "add", 1, 1),
		flow.Call("b", "block"),
		flow.Call("c", "add", 1),
	))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != strand.StatusCancelled {
		t.Fatalf("workflow %s, want cancelled", st.Status)
	}
	waitStep(t, ctx, h, "b", strand.StatusCancelled)
	waitStep(t, ctx, h, "c", strand.StatusCancelled)
	time.Sleep(200 * time.Millisecond)
	if n := cl.of(codec.StepID(h.ID(), "c")); n != 0 {
		t.Fatalf("c ran %d times after the cancel", n)
	}
	if err := h.Cancel(ctx); !errors.Is(err, strand.ErrFinished) {
		t.Fatalf("second cancel: %v, want ErrFinished", err)
	}
	var te *strand.TaskError
	if err := h.Result(ctx, nil); !errors.As(err, &te) || !errors.Is(err, strand.ErrCancelled) {
		t.Fatalf("Result of a cancelled workflow: %v, want a TaskError of kind cancelled", err)
	}
}

// TestResultOfSeveralFinalSteps: a workflow with several final steps gives
// them by name in a map; into one value it is an error naming them.
func TestResultOfSeveralFinalSteps(t *testing.T) {
	t.Parallel()
	_, c := setup(t, map[string]any{"add": demo.Add}, true)
	ctx := wait(t)
	h, err := c.Submit(ctx, flow.New(
		flow.Call("a", "add", 1, 1),
		flow.Call("b", "add", 10).After("a"),
		flow.Call("c", "add", 20).After("a"),
	))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]json.RawMessage
	if err := h.Result(ctx, &res); err != nil || len(res) != 2 || string(res["b"]) != "12" || string(res["c"]) != "22" {
		t.Fatalf("Result into a map: %v %v", res, err)
	}
	var n int
	if err := h.Result(ctx, &n); err == nil || !strings.Contains(err.Error(), "2 final steps ([b c])") {
		t.Fatalf("Result into an int: %v", err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatalf("Result into nil: %v", err)
	}
	var byName struct{ B, C int }
	if err := h.Result(ctx, &byName); err != nil || byName.B != 12 || byName.C != 22 {
		t.Fatalf("Result into a struct by step name: %+v %v", byName, err)
	}
}

func TestRefusedAtSubmit(t *testing.T) {
	t.Parallel()
	_, c := setup(t, nil, false)
	ctx := wait(t)
	for name, d := range map[string]*flow.Definition{
		"cycle":     flow.New(flow.Call("a", "f").After("c"), flow.Call("b", "f").After("a"), flow.Call("c", "f").After("b")),
		"self":      flow.New(flow.Call("a", "f").After("a")),
		"unknown":   flow.New(flow.Call("a", "f").After("nope")),
		"duplicate": flow.New(flow.Call("a", "f"), flow.Call("a", "g")),
		"bad name":  flow.New(flow.Call("a.b", "f")),
		"no func":   flow.New(flow.Call("a", "")),
		"empty":     flow.New(),
		"results":   flow.New(pass(flow.Call("a", "f"), "weird")),
		"policy":    {OnFailure: "ignore", Steps: []*flow.Step{flow.Call("a", "f")}},
		"bad queue": flow.New(flow.Call("a", "f").With(strand.Queue("no queue"))),
		"step id":   flow.New(flow.Call("a", "f").With(strand.ID("mine"))),
		"delay":     flow.New(flow.Call("a", "f").With(strand.After(time.Second))),
		"timeout":   flow.New(flow.Call("a", "f").With(strand.Timeout(-time.Second))),
	} {
		_, err := c.Submit(ctx, d)
		if !errors.Is(err, codec.ErrBadFlow) || !errors.Is(err, strand.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadFlow", name, err)
		}
	}
	_, err := c.Submit(ctx, flow.New(flow.Call("a", "f").After("c"), flow.Call("b", "f").After("a"), flow.Call("c", "f").After("b")))
	if err == nil || err.Error() != "strand: bad option: workflow: cycle: a → b → c → a" {
		t.Errorf("cycle: %v", err)
	}
}

// TestStepWith: With sets the step's fields from the submit options a step
// takes, and they reach its task: queue, timeout, attempts, kwargs, meta.
func TestStepWith(t *testing.T) {
	t.Parallel()
	s := flow.Call("a", "f").With(strand.Queue("q2"), strand.Timeout(3*time.Second), strand.MaxAttempts(4),
		strand.Kwargs(map[string]int{"k": 1}), strand.ResultTTL(time.Hour), strand.Meta(map[string]string{"x": "1"}),
		strand.Meta(map[string]string{"y": "2"}))
	if s.Queue != "q2" || s.Timeout != 3*time.Second || s.MaxAttempts != 4 || s.ResultTTL != time.Hour ||
		s.Kwargs == nil || len(s.Meta) != 2 {
		t.Fatalf("With gave %+v", s)
	}
	env, c := setup(t, map[string]any{"add": demo.Add}, false)
	seen := make(chan strand.Task, 1)
	env.Registry.MustRegister("look", func(ctx context.Context) int {
		tk, _ := strand.TaskFrom(ctx)
		seen <- tk
		return 1
	})
	ctx := wait(t)
	if err := env.StartWorker(ctx, reader.Config{Queues: []string{"q2"}}); err != nil {
		t.Fatal(err)
	}
	h, err := c.Submit(ctx, flow.New(flow.Call("l", "look").With(strand.Queue("q2"), strand.MaxAttempts(4),
		strand.Meta(map[string]string{"x": "1"}))))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.Result(ctx, &n); err != nil || n != 1 {
		t.Fatalf("Result: %d, %v", n, err)
	}
	tk := <-seen
	if tk.Queue != "q2" || tk.Meta["x"] != "1" {
		t.Fatalf("the step ran as %+v", tk)
	}
	st, err := h.Status(ctx)
	if err != nil || st.Steps[0].Queue != "q2" {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestDuplicateFlowID(t *testing.T) {
	t.Parallel()
	_, c := setup(t, map[string]any{"add": demo.Add}, false)
	ctx := wait(t)
	d := flow.Chain(flow.Call("a", "add", 1, 2))
	d.ID = "mine"
	h, err := c.Submit(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, d); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("second submit: %v, want ErrDuplicate", err)
	}
	o, err := c.Open(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := o.Result(ctx, &n); err != nil || n != 3 {
		t.Fatalf("Open: %d, %v", n, err)
	}
}

func TestParseJSON(t *testing.T) {
	t.Parallel()
	_, c := setup(t, map[string]any{"add": demo.Add, "sum": demo.Sum}, true)
	ctx := wait(t)
	d, err := flowdoc.Parse([]byte(`{"steps": {
		"one": {"func": "add", "args": [1, 2]},
		"two": {"func": "add", "args": [3, 4]},
		"total": {"func": "sum", "after": ["one", "two"], "results": "list", "timeout": "5s"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Submit(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.Result(ctx, &n); err != nil || n != 10 {
		t.Fatalf("%d, %v", n, err)
	}
	for _, bad := range []string{`{}`, `{"steps": []}`, `{"steps": {"a": {"fn": "x"}}}`, `{"steps": {"a": {"func": "x", "timeout": "soon"}}}`, `nope`} {
		if _, err := flowdoc.Parse([]byte(bad)); !errors.Is(err, codec.ErrBadFlow) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestIteratorStepPassesItems: a step after an iterator step (one whose
// handler yields items) receives the list of its items as its result.
func TestIteratorStepPassesItems(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", js), func(t *testing.T) {
			t.Parallel()
			_, c := setup(t, map[string]any{"count": demo.Count, "sum": demo.Sum}, js)
			ctx := wait(t)
			h, err := c.Submit(ctx, flow.Chain(
				flow.Call("c", "count", 5),
				flow.Call("s", "sum"),
			))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := h.Result(ctx, &n); err != nil {
				t.Fatal(err)
			}
			if n != 0+1+2+3+4 {
				t.Fatalf("sum of count(5)'s items gave %d, want 10", n)
			}
		})
	}
}

// A workflow is submitted through a writer: its encoding can be the
// definition's own, an unknown one is refused, and a closed writer ends
// waits and refuses submissions with ErrClosed.
func TestSubmitThroughWriter(t *testing.T) {
	t.Parallel()
	env, c := setup(t, map[string]any{"add": demo.Add, "slow": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}, false)
	ctx := wait(t)
	d := flow.Chain(flow.Call("a", "add", 1, 2), flow.Call("b", "add", 10))
	d.Encoding = "json"
	h, err := c.Submit(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.Result(ctx, &n); err != nil || n != 13 {
		t.Fatalf("json workflow on a msgpack writer: %d, %v", n, err)
	}
	bad := flow.New(flow.Call("a", "add", 1, 2))
	bad.Encoding = "yaml"
	if _, err := c.Submit(ctx, bad); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("unknown encoding: %v", err)
	}
	if _, err := flow.Submit(ctx, nil, flow.New(flow.Call("a", "add", 1, 2))); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("nil writer: %v", err)
	}

	w, err := writer.New(env.Broker, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	long, err := flow.Submit(ctx, w, flow.New(flow.Call("s", "slow")))
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { _, err := long.Wait(ctx); waited <- err }()
	time.Sleep(50 * time.Millisecond)
	_ = w.Close()
	select {
	case err := <-waited:
		if !errors.Is(err, strand.ErrClosed) {
			t.Fatalf("wait after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}
	if _, err := flow.Submit(ctx, w, flow.New(flow.Call("a", "add", 1, 2))); !errors.Is(err, strand.ErrClosed) {
		t.Fatalf("submit after Close: %v", err)
	}
	_ = cancelFlow(ctx, c, long.ID())
}

// cancelFlow cancels workflow id through another writer, so that its
// slow step ends before the test's cleanup.
func cancelFlow(ctx context.Context, c client, id string) error {
	h, err := c.Open(ctx, id)
	if err != nil {
		return err
	}
	return h.Cancel(ctx)
}

// A workflow's handle is a strand.Handle: its status, info and progress
// count its steps, WatchProgress reports each step's end as it comes, Items
// yields nothing and ends with the workflow, and
// StatusOf refuses a task's handle.
func TestWorkflowIsAHandle(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	env, c := setup(t, map[string]any{
		"add":  demo.Add,
		"gate": func(x int) int { <-gate; return x },
		"fail": func(int) (int, error) { return 0, errors.New("boom") },
	}, false)
	ctx := wait(t)
	d := flow.New(
		flow.Call("a", "add", 1, 2),
		flow.Call("g", "gate").After("a"),
		flow.Call("b", "add", 10).After("g"),
	)
	d.Meta = map[string]string{"tenant": "acme"}
	h, err := flow.Submit(ctx, c.w, d)
	if err != nil {
		t.Fatal(err)
	}
	var reports []strand.Report
	watched := make(chan *strand.Outcome, 1)
	go func() {
		o, err := h.WatchProgress(ctx, func(r strand.Report) { reports = append(reports, r) })
		if err != nil {
			t.Error(err)
		}
		watched <- o
	}()
	th := &handle{h}
	waitStep(t, ctx, th, "g", strand.StatusRunning)
	if s, err := h.Status(ctx); err != nil || s != strand.StatusRunning {
		t.Fatalf("status %s %v", s, err)
	}
	info, err := h.Info(ctx)
	if err != nil || info.Status != strand.StatusRunning || info.Meta["tenant"] != "acme" || info.Created.IsZero() ||
		info.Progress == nil || info.Progress.Done != 1 || info.Progress.Total != 3 {
		t.Fatalf("info %+v %v", info, err)
	}
	if p, err := h.Progress(ctx); err != nil || p.Done != 1 || p.Total != 3 {
		t.Fatalf("progress %+v %v", p, err)
	}
	close(gate)
	o := <-watched
	if o == nil || o.Status != strand.StatusCompleted {
		t.Fatalf("WatchProgress outcome %+v", o)
	}
	var n int
	if err := o.Decode(&n); err != nil || n != 13 {
		t.Fatalf("outcome result %d %v", n, err)
	}
	if len(reports) == 0 || reports[len(reports)-1].Done != 3 || reports[len(reports)-1].Total != 3 {
		t.Fatalf("reports %+v", reports)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Done <= reports[i-1].Done {
			t.Fatalf("reports not increasing: %+v", reports)
		}
	}
	for v, err := range h.Items(ctx) {
		t.Fatalf("an item of a workflow: %v %v", v, err)
	}
	if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("Wait after the end: %+v %v", o, err)
	}

	failed, err := flow.Submit(ctx, c.w, flow.Chain(flow.Call("x", "fail", 1), flow.Call("y", "add", 1)))
	if err != nil {
		t.Fatal(err)
	}
	var items int
	for _, err := range failed.Items(ctx) {
		items++
		if !errors.Is(err, strand.ErrFailed) || !strings.Contains(err.Error(), "at step x") {
			t.Fatalf("Items of a failed workflow: %v", err)
		}
	}
	if items != 1 {
		t.Fatalf("%d yields for a failed workflow", items)
	}
	if o, err := failed.Wait(ctx); err != nil || o.Status != strand.StatusFailed || !errors.Is(o.Err, strand.ErrFailed) {
		t.Fatalf("failed outcome %+v %v", o, err)
	}

	task, err := env.Writer.Submit(ctx, "add", []any{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flow.StatusOf(ctx, task); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("StatusOf a task's handle: %v", err)
	}
	ghost, err := flow.Open(ctx, c.w, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ghost.ID() != h.ID() {
		t.Fatal("Open gave another id")
	}
}
