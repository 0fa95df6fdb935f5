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
	"github.com/strand-run/strand/internal/codec"
)

// awaitStreaming is await for a task just submitted: it prints the task's
// items as JSON, one per line, as they come (an iterator task), shows its
// progress as a bar when stderr is a terminal, then prints the outcome.
func (a *app) awaitStreaming(ctx context.Context, h strand.Handle, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	bar := &taskBar{}
	if isTerminal(a.stderr) {
		bar = a.progressBar(wctx, h)
	}
	defer bar.stop()
	for it, err := range h.Items(wctx) {
		if err != nil {
			var te *strand.TaskError
			if !errors.As(err, &te) && wctx.Err() == nil {
				return err
			}
			break // the outcome, read next, tells the rest
		}
		js, err := codec.ValueJSON(it)
		if err != nil {
			return fmt.Errorf("task %s: render item as JSON: %w", h.ID(), err)
		}
		bar.clear() // the item's line is not glued to the bar; the next report draws it again
		fmt.Fprintf(a.stdout, "%s\n", js)
		if f, ok := a.stdout.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
	}
	rest := time.Duration(0)
	if dl, ok := wctx.Deadline(); ok {
		rest = max(time.Until(dl), time.Nanosecond)
	}
	bar.stop() // before the outcome is printed, not after
	return a.await(ctx, h, rest)
}

// taskBar is the progress bar of a task being waited for; the zero value
// draws nothing.
type taskBar struct {
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool
}

// progressBar draws h's progress on stderr until the task ends or the bar
// is stopped; stop clears it.
func (a *app) progressBar(ctx context.Context, h strand.Handle) *taskBar {
	ctx, cancel := context.WithCancel(ctx)
	b := &taskBar{cancel: cancel}
	b.wg.Go(func() {
		_, _ = h.WatchProgress(ctx, func(p strand.Report) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.stopped {
				return
			}
			total := p.Total
			if total <= 0 {
				total = -1 // unknown: a spinner
			}
			if b.bar == nil {
				b.bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionSetWidth(30),
					progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish(),
				)
			} else if total != b.bar.GetMax64() {
				b.bar.ChangeMax64(total)
			}
			b.bar.Describe(p.Note)
			_ = b.bar.Set64(p.Done)
		})
	})
	return b
}

// clear erases the bar's line; the next progress report draws it again.
func (b *taskBar) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
}

// stop ends the bar and erases it. It may be called more than once.
func (b *taskBar) stop() {
	if b.cancel != nil {
		b.cancel()
		b.wg.Wait()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stopped && b.bar != nil {
		_ = b.bar.Clear()
	}
	b.stopped = true
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
