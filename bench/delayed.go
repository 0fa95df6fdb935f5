package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
)

// DelayedResult is the delayed run: tasks all delayed to one second,
// submitted while a worker runs; the server fires them at that second, and
// the worker relays each firing into its queue and runs it.
type DelayedResult struct {
	Tasks        int     `json:"tasks"`
	SubmitPerSec float64 `json:"submit_per_sec"`
	// RunPerSec is the tasks over the time from their due second to the
	// last completion: firing, relay and run together.
	RunPerSec float64 `json:"run_per_sec"`
	// Late is how long after its due second the last task completed.
	Late string `json:"last_done_after_due"`
	// SubmitLate is set when submitting ran past the due second (the
	// rate then counts tasks that fired while others were submitted).
	SubmitLate bool `json:"submit_ran_past_due,omitempty"`
}

// delayedRun submits cfg.Delayed tasks with strand.At(due) from the run's
// producers, a worker of strand's defaults running, and times them.
func delayedRun(ctx context.Context, e *env) (res *DelayedResult, err error) {
	cfg := e.cfg
	before, err := e.streams(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := e.cleanup(context.WithoutCancel(ctx), before); err == nil && cerr != nil {
			err = cerr
		}
	}()
	s, err := newStrand(ctx, e, strandOpts{prefix: "bt"})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
			err = cerr
		}
	}()
	t := newTally()
	if err := s.startReader(ctx, e, t); err != nil {
		return nil, err
	}
	n := cfg.Delayed
	done := t.arm(n)
	defer t.disarm()
	// Room to submit them all before they are due (a delayed submit is
	// three round trips: two reads and a create-only publish).
	due := time.Now().Add(3*time.Second + time.Duration(n)*time.Millisecond).Truncate(time.Second).Add(time.Second)
	sctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Producers)
	t0 := time.Now()
	for p := range cfg.Producers {
		share := n / cfg.Producers
		if p < n%cfg.Producers {
			share++
		}
		wg.Go(func() {
			for range share {
				if _, err := s.w.Submit(sctx, "add", []any{1, 2}, strand.At(due)); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	submitted := time.Now()
	res = &DelayedResult{Tasks: n, SubmitPerSec: float64(n) / submitted.Sub(t0).Seconds(), SubmitLate: submitted.After(due)}
	e.log("delayed: %d submitted at %.0f tasks/s, due at %s\n", n, res.SubmitPerSec, due.Format("15:04:05"))
	wctx, wcancel := context.WithTimeout(ctx, phaseTimeout)
	defer wcancel()
	if err := wait(wctx, done); err != nil {
		return nil, fmt.Errorf("%d of %d delayed tasks ran: %w", t.n.Load(), n, err)
	}
	late := t.ended().Sub(due)
	res.RunPerSec, res.Late = float64(n)/late.Seconds(), late.Round(time.Millisecond).String()
	e.log("delayed: all ran %s after due, %.0f tasks/s\n", res.Late, res.RunPerSec)
	return res, nil
}
