// Package demo holds the functions that strand's own binary runs: enough to
// try a queue end to end (strand dev, strand worker) without writing a worker.
package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strand-run/strand/registry"
)

// Register adds add, echo, sleep and fail to reg.
func Register(reg *registry.Registry) error {
	for _, f := range []struct {
		name string
		fn   any
	}{
		{"add", Add},
		{"echo", Echo},
		{"sleep", Sleep},
		{"fail", Fail},
	} {
		if err := reg.Register(f.name, f.fn); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// Add returns a + b: the smallest task with a result to check.
func Add(a, b int) int { return a + b }

// Echo returns x unchanged, to see how a value travels through a queue.
func Echo(x any) any { return x }

// Sleep waits ms milliseconds, or until the task is cancelled or times out,
// in which case it returns ctx.Err(): a long task to cancel or time out.
func Sleep(ctx context.Context, ms int) error {
	if ms < 0 {
		return fmt.Errorf("negative duration %d ms", ms)
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fail returns an error with message msg: a task that always fails.
func Fail(msg string) error { return errors.New(msg) }
