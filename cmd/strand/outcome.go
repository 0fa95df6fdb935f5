package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// await waits for h's outcome, for at most timeout (0: no limit), and prints it.
func (a *app) await(ctx context.Context, h *writer.Handle, timeout time.Duration) error {
	o, f, err := a.waitOutcome(ctx, h, timeout, "is not ready")
	if err != nil {
		return err
	}
	return a.printOutcome(h.ID(), o, f)
}

// waitOutcome waits for h's outcome for at most timeout (0: no limit). If
// the wait is interrupted or times out, it says on stderr where the task
// is ("task <id> <notReady>: <status>") and returns the not-ready exit.
func (a *app) waitOutcome(ctx context.Context, h *writer.Handle, timeout time.Duration, notReady string) (*codec.Outcome, codec.Format, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	o, f, err := h.Wait(wctx)
	if err != nil {
		if wctx.Err() == nil {
			return nil, f, err
		}
		// Interrupted or timed out: say where the task is, with a fresh ctx.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		st, serr := h.Status(sctx)
		if serr != nil {
			st = strand.StatusUnknown
		}
		fmt.Fprintf(a.stderr, "task %s %s: %s\n", h.ID(), notReady, st)
		return nil, f, exitWith(exitNotReady)
	}
	return o, f, nil
}

// printOutcome prints a completed task's result as JSON on stdout, or the
// error of one that did not complete on stderr (exit 1).
func (a *app) printOutcome(id string, o *codec.Outcome, f codec.Format) error {
	if o.Status == strand.StatusCompleted && o.Items > 0 && o.Result.IsNil() {
		// An iterator task: its items were the output.
		fmt.Fprintf(a.stderr, "end: %d items\n", o.Items)
		return nil
	}
	if o.Status == strand.StatusCompleted {
		js, err := codec.ToJSON(f, o.Result)
		if err != nil {
			return fmt.Errorf("task %s: render result as JSON: %w", id, err)
		}
		fmt.Fprintf(a.stdout, "%s\n", js)
		return nil
	}
	a.printTaskError(id, o.Status, o.Error)
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
