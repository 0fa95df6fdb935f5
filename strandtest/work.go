package strandtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/taskctx"
	"github.com/strand-run/strand/registry"
)

// Inline is one inline run of a handler: its call and the task it runs as.
type Inline struct {
	// Args are the positional args; Kwargs the keyword args (a map or a
	// struct; nil: none). They are encoded as a writer encodes them and
	// decoded by the registry as on a worker, so ill-typed args fail the
	// run with kind bad_args.
	Args   []any
	Kwargs any
	// Task is the task the handler sees in strand.TaskFrom(ctx). Zero
	// fields default to: ID "strandtest-N" (N counting runs in this
	// process), Func the typed task's name or "handler", Queue "default",
	// Attempt 1, Worker "strandtest".
	Task strand.Task
	// MaxAttempts is the task's attempts (default 1): with more, a
	// retryable failure of an attempt before the last reads
	// StatusRetrying, and of the last StatusDead, as a worker records them.
	MaxAttempts int
	// Timeout limits the run as a task's timeout does (0: none): the
	// handler's ctx ends with it and the run fails with kind timeout.
	Timeout time.Duration
	// JSON encodes args, kwargs, items and the result as JSON, not msgpack.
	JSON bool
}

// Result is how a task ended: an inline run's (RunInline), as a worker
// would have recorded it, or a task's a worker ran (WaitOutcome). Its
// strand.Outcome has ID, Status, Err, Attempt, Worker, Items (how many) and
// the Result value; Decode decodes it or fails the test.
type Result struct {
	// Outcome is how the task ended. Status is completed; failed;
	// cancelled (ctx ended while it ran); retrying or dead (an inline run
	// with Inline.MaxAttempts > 1, whose attempt before the last reads
	// retrying, as a worker records it). Err is nil for a completed task,
	// else the *strand.TaskError a worker records (errors.Is matches
	// strand.ErrTimeout, strand.ErrBadArgs, …).
	*strand.Outcome
	// Task is the task the handler ran as (of a waited task: its ID,
	// Attempt and Worker).
	Task strand.Task
	// Retryable reports whether a worker would retry the error while the
	// task has attempts left: an error, panic or timeout not marked
	// strand.Permanent. RetryAfter is strand.Retry's delay (0: backoff).
	// Inline runs only.
	Retryable  bool
	RetryAfter time.Duration
	// Progress holds every progress report of an inline run, in order (a
	// worker stores them throttled; here none is dropped).
	Progress []strand.Report

	format codec.Format
	result codec.Raw
	items  []codec.Raw
	waited bool // WaitOutcome's: no items kept here
}

var inlineRuns atomic.Int64

// RunInline runs fn, a handler in any shape the registry takes (or a typed
// task of package strand: strand.NewFunc(...)), once, inline,
// with the call and task in in. The handler's ctx is a worker's: it carries
// strand.TaskFrom's task, the Progress reporter and in.Timeout's deadline;
// an iterator handler's items are collected as a worker streams them. A
// failure of the handler is the result's Err, not a test failure; the test
// fails only when fn is not a handler or the args cannot be encoded.
//
// Unlike a worker, RunInline runs no reader middleware, checks no result
// size and waits for a handler that ignores its ctx past its timeout.
//
//	res := strandtest.RunInline(t, ctx, func(a, b int) int { return a + b }, strandtest.Inline{Args: []any{2, 3}})
//	var sum int
//	res.Decode(t, &sum) // 5
func RunInline(t testing.TB, ctx context.Context, fn any, in Inline) *Result {
	t.Helper()
	f, name, err := handlerOf(fn, in.Task.Func)
	if err != nil {
		t.Fatalf("strandtest: %v", err)
	}
	task := in.Task
	task.Func = name
	if task.ID == "" {
		task.ID = fmt.Sprintf("strandtest-%d", inlineRuns.Add(1))
	}
	if task.Queue == "" {
		task.Queue = "default"
	}
	if task.Attempt <= 0 {
		task.Attempt = 1
	}
	if task.Worker == "" {
		task.Worker = "strandtest"
	}
	res := &Result{Outcome: &strand.Outcome{ID: task.ID, Attempt: task.Attempt, Worker: task.Worker}, Task: task, format: codec.Msgpack}
	if in.JSON {
		res.format = codec.JSON
	}
	args := make([]codec.Raw, len(in.Args))
	for i, a := range in.Args {
		if args[i], err = res.format.Marshal(a); err != nil {
			t.Fatalf("strandtest: %s: arg %d: %v", name, i+1, err)
		}
	}
	var kwargs codec.Raw
	if in.Kwargs != nil {
		if kwargs, err = res.format.Marshal(in.Kwargs); err != nil {
			t.Fatalf("strandtest: %s: kwargs: %v", name, err)
		}
	}

	taskCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if in.Timeout > 0 {
		var stop context.CancelFunc
		taskCtx, stop = context.WithTimeoutCause(taskCtx, in.Timeout, strand.ErrTimeout)
		defer stop()
	}
	taskCtx = taskctx.WithTask(taskCtx, task)
	var mu sync.Mutex
	taskCtx = taskctx.WithProgress(taskCtx, func(done, total int64, note string) {
		mu.Lock()
		res.Progress = append(res.Progress, strand.Report{Done: done, Total: total, Note: note, At: time.Now()})
		mu.Unlock()
	})

	res.Started = time.Now()
	v, err := f.Call(taskCtx, res.format, args, kwargs)
	if err == nil && f.Iterator() {
		err, v = res.each(taskCtx, f, v), nil
	}
	if err == nil && v != nil {
		raw, merr := res.format.Marshal(v)
		if merr != nil {
			err = strand.Permanent(fmt.Errorf("%s: encode result %T: %w", name, v, merr))
		}
		res.result = raw
	}
	res.finish(taskCtx, ctx, err, max(in.MaxAttempts, 1), in.Timeout)
	res.Ended, res.Items = time.Now(), int64(len(res.items))
	if res.Status == strand.StatusCompleted && !res.result.IsNil() {
		res.Result = codec.Value{F: res.format, Raw: res.result, What: "the result"}
	}
	return res
}

// handlerOf registers fn in a registry of its own: a typed task under its
// name, any other handler under name (default "handler").
func handlerOf(fn any, name string) (*handler.Func, string, error) {
	reg := registry.New()
	if tt, ok := fn.(interface {
		Register(interface{ Register(string, any) error }) error
	}); ok {
		if err := tt.Register(reg); err != nil {
			return nil, "", err
		}
		name = (*handler.Table)(reg).Names()[0] // a typed task registers itself under its name
	} else {
		if name == "" {
			name = "handler"
		}
		if err := reg.Register(name, fn); err != nil {
			return nil, "", err
		}
	}
	f, _ := (*handler.Table)(reg).Lookup(name)
	return f, name, nil
}

// each ranges over an iterator handler's sequence as a worker does: every
// item encoded and kept, stopping at the first error or when ctx ends.
func (res *Result) each(ctx context.Context, f *handler.Func, seq any) error {
	var stop error
	perr := f.Each(seq, func(item any, err error) bool {
		switch {
		case err != nil:
			stop = err
		case ctx.Err() != nil:
			stop = ctx.Err()
		default:
			raw, merr := res.format.Marshal(item)
			if merr != nil {
				stop = strand.Permanent(fmt.Errorf("%s: encode item %T: %w", f.Name(), item, merr))
			} else {
				res.items = append(res.items, raw)
			}
		}
		return stop == nil
	})
	if perr != nil {
		return perr
	}
	if stop == nil {
		stop = ctx.Err()
	}
	return stop
}

// finish classifies err as a worker's finish does.
func (res *Result) finish(taskCtx, parent context.Context, err error, attempts int, timeout time.Duration) {
	if err == nil {
		res.Status = strand.StatusCompleted
		return
	}
	name := res.Task.Func
	switch cause := context.Cause(taskCtx); {
	case errors.Is(cause, strand.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
		err = &strand.TaskError{Kind: strand.ErrTimeout, Message: fmt.Sprintf("%s: timed out after %v", name, timeout)}
	case parent.Err() != nil && errors.Is(err, parent.Err()):
		err = &strand.TaskError{Kind: strand.ErrCancelled, Message: name + ": cancelled by caller"}
	}
	info := codec.ErrorInfoOf(err)
	var pe *taskctx.PermanentError
	res.Retryable = !errors.As(err, &pe) &&
		(strand.Kind(info.Kind) == strand.ErrFailed || strand.Kind(info.Kind) == strand.ErrPanic || strand.Kind(info.Kind) == strand.ErrTimeout)
	var re *taskctx.RetryError
	if errors.As(err, &re) {
		res.RetryAfter = re.After
	}
	res.Err = info.Err()
	res.Status = strand.StatusFailed
	switch {
	case strand.Kind(info.Kind) == strand.ErrCancelled:
		res.Status = strand.StatusCancelled
	case attempts > 1 && res.Retryable && res.Task.Attempt < attempts:
		res.Status = strand.StatusRetrying
	case attempts > 1 && res.Retryable:
		res.Status = strand.StatusDead
	}
}

// Decode decodes the task's result into out (a pointer, or nil to discard
// it) as a caller's Result would: a nil result leaves out as it is. It
// fails the test if the task did not complete or the result does not fit
// out.
func (res *Result) Decode(t testing.TB, out any) {
	t.Helper()
	if res.Status != strand.StatusCompleted {
		t.Fatalf("strandtest: %s did not complete (%s): %v", res.name(), res.Status, res.Outcome.Decode(nil))
	}
	if err := res.Outcome.Decode(out); err != nil {
		t.Fatalf("strandtest: %s: decode result into %T: %v", res.name(), out, err)
	}
}

// name is the function of an inline run, the task id of a waited task.
func (res *Result) name() string {
	if res.Task.Func != "" {
		return res.Task.Func
	}
	return "task " + res.ID
}

// Items decodes every item of an inline run as a T, failing the test on an
// item that does not fit. (For a task a worker ran, read its items with
// strand.Items on its handle.)
//
//	res := strandtest.RunInline(t, ctx, count, strandtest.Inline{Args: []any{3}})
//	strandtest.Items[int](t, res) // [0 1 2]
func Items[T any](t testing.TB, res *Result) []T {
	t.Helper()
	if res.waited {
		t.Fatalf("strandtest: Items of task %s: its items are read with strand.Items on its handle", res.ID)
	}
	out := make([]T, len(res.items))
	for i := range res.items {
		if err := codec.DecodeValue(res.format, res.items[i], &out[i], false); err != nil {
			t.Fatalf("strandtest: %s: decode item %d into %T: %v", res.Task.Func, i, &out[i], err)
		}
	}
	return out
}
