package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// await waits for h's outcome, for at most timeout (0: no limit), and prints it.
func (a *app) await(ctx context.Context, h strand.Handle, timeout time.Duration) error {
	o, err := a.waitOutcome(ctx, h, timeout, "is not ready")
	if err != nil {
		return err
	}
	return a.printOutcome(h.ID(), o)
}

// waitOutcome waits for h's outcome for at most timeout (0: no limit). If
// the wait is interrupted or times out, it says on stderr where the task
// is ("task <id> <notReady>: <status>") and returns the not-ready exit.
func (a *app) waitOutcome(ctx context.Context, h strand.Handle, timeout time.Duration, notReady string) (*strand.Outcome, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	o, err := h.Wait(wctx)
	if err != nil {
		if wctx.Err() == nil {
			return nil, err
		}
		// Interrupted or timed out: say where the task is, with a fresh ctx.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		st, serr := h.Status(sctx)
		if serr != nil {
			st = strand.StatusUnknown
		}
		fmt.Fprintf(a.stderr, "task %s %s: %s\n", h.ID(), notReady, st)
		return nil, exitWith(exitNotReady)
	}
	return o, nil
}

// printOutcome prints a completed task's result as JSON on stdout, or the
// error of one that did not complete on stderr (exit 1).
func (a *app) printOutcome(id string, o *strand.Outcome) error {
	if o.Status == strand.StatusCompleted && o.Items > 0 && o.Result == nil {
		// An iterator task: its items were the output.
		fmt.Fprintf(a.stderr, "end: %d items\n", o.Items)
		return nil
	}
	if o.Status == strand.StatusCompleted {
		js, err := codec.ValueJSON(o.Result)
		if err != nil {
			return fmt.Errorf("task %s: render result as JSON: %w", id, err)
		}
		fmt.Fprintf(a.stdout, "%s\n", js)
		return nil
	}
	a.printTaskError(id, o.Status, errorInfo(o.Err))
	return exitWith(exitFailed)
}

// printTaskError prints why a task did not complete.
func (a *app) printTaskError(id string, st strand.Status, e *codec.ErrorInfo) {
	msg, kind := fmt.Sprintf("task %s %s", id, st), string(st)
	if e != nil {
		msg, kind = e.Message, e.Kind
	}
	fmt.Fprintf(a.stderr, "error: %s\n", msg)
	fmt.Fprintf(a.stderr, "task %s %s (kind %s)\n", id, st, kind)
}

// errorInfo is the ErrorInfo of a task error read through a handle.
func errorInfo(err error) *codec.ErrorInfo {
	if err == nil {
		return nil
	}
	var te *strand.TaskError
	if errors.As(err, &te) {
		return &codec.ErrorInfo{Kind: string(te.Kind), Message: te.Message}
	}
	return codec.ErrorInfoOf(err)
}

// queueOf is the queue of h's task: the writer's handles know it.
func queueOf(h strand.Handle) string {
	if q, ok := h.(interface{ Queue() string }); ok {
		return q.Queue()
	}
	return ""
}

// writeJSON prints v as indented JSON, for --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listOrEmpty makes a nil list print as [] rather than null.
func listOrEmpty[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
