package middleware

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"

	"github.com/strand-run/strand/reader"
)

// Limits are per-function rates for RateLimit, in tasks per second. A
// function missing from PerFunc gets Default; a zero Default leaves such
// functions unlimited.
type Limits struct {
	PerFunc map[string]rate.Limit
	Default rate.Limit
	// Burst is how many tasks of one function may start at once after a
	// quiet spell (default 1: evenly spaced).
	Burst int
}

// RateLimit holds each function's tasks to its rate with a token bucket
// (golang.org/x/time/rate) per function name. A task over its function's
// rate waits for a token before its handler runs; the wait ends early when
// the task's ctx does (its timeout, a cancel, a shutdown), and the task
// then ends as a handler whose ctx ended.
//
// It waits rather than returning strand.Retry: a retry would spend one of
// the task's attempts (and with one attempt, end the task failed) for what
// is no fault of the task, and would reorder the queue. The waiting task
// holds a pool slot, so the worker's Concurrency bounds how many wait at
// once; the worker keeps it alive with heartbeats meanwhile. The limits are
// per worker process: n workers run a function at up to n times its rate.
func RateLimit(l Limits) reader.Middleware {
	burst := max(l.Burst, 1)
	var (
		mu       sync.Mutex
		limiters = make(map[string]*rate.Limiter)
	)
	limiter := func(fn string) *rate.Limiter {
		mu.Lock()
		defer mu.Unlock()
		if lim, ok := limiters[fn]; ok {
			return lim
		}
		r, ok := l.PerFunc[fn]
		if !ok {
			r = l.Default
		}
		var lim *rate.Limiter
		if r > 0 && r != rate.Inf {
			lim = rate.NewLimiter(r, burst)
		}
		limiters[fn] = lim
		return lim
	}
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			if lim := limiter(c.Task.Func); lim != nil {
				if err := lim.Wait(ctx); err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					return nil, fmt.Errorf("%s: rate limit: %w", c.Task.Func, err)
				}
			}
			return next(ctx, c)
		}
	}
}
