package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// awaitStreaming is await for a task just submitted: it prints the task's
// items as JSON, one per line, as they come (an iterator task), shows its
// progress as a bar when stderr is a terminal, then prints the outcome.
func (a *app) awaitStreaming(ctx context.Context, h *writer.Handle, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if isTerminal(a.stderr) {
		stop := a.progressBar(wctx, h)
		defer stop()
	}
	for it, err := range h.Items(wctx) {
		if err != nil {
			var te *strand.TaskError
			if !errors.As(err, &te) && wctx.Err() == nil {
				return err
			}
			break // the outcome, read next, tells the rest
		}
		js, err := codec.ToJSON(it.Format, it.Data)
		if err != nil {
			return fmt.Errorf("task %s: render item %d as JSON: %w", h.ID(), it.N, err)
		}
		fmt.Fprintf(a.stdout, "%s\n", js)
		if f, ok := a.stdout.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
	}
	rest := time.Duration(0)
	if dl, ok := wctx.Deadline(); ok {
		rest = max(time.Until(dl), time.Nanosecond)
	}
	return a.await(ctx, h, rest)
}

// progressBar draws h's progress on stderr until the task ends or stop is
// called; stop clears the bar.
func (a *app) progressBar(ctx context.Context, h *writer.Handle) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var bar *progressbar.ProgressBar
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _, _ = h.WatchProgress(ctx, func(p codec.Progress) {
			total := p.Total
			if total <= 0 {
				total = -1 // unknown: a spinner
			}
			if bar == nil {
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionSetWidth(30),
					progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish(),
				)
			} else if total != bar.GetMax64() {
				bar.ChangeMax64(total)
			}
			bar.Describe(p.Note)
			_ = bar.Set64(p.Done)
		})
	})
	return func() {
		cancel()
		wg.Wait()
		if bar != nil {
			_ = bar.Clear()
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
