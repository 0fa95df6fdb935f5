package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Sample is the process's RSS and the server's data dir at one moment.
type Sample struct {
	RSS  int64 `json:"rss"`
	Disk int64 `json:"disk"`
	// Anon and File split the RSS of the soak's server process: its
	// anonymous memory (the Go heap, stacks, runtime) and the pages of its
	// binary (and other files) mapped in. Only the soak sets them.
	Anon int64 `json:"rss_anon,omitempty"`
	File int64 `json:"rss_file,omitempty"`
	// Registry is the part of Disk that is the soak's worker registry
	// (the KV_<prefix>_WORKERS stream: heartbeats, not tasks).
	Registry int64 `json:"disk_worker_registry,omitempty"`
}

func (e *env) sample() Sample { return Sample{RSS: rss(), Disk: dirSize(e.srv.DataDir())} }

// DepthResult is the depth run: tasks queued with no worker, drained by
// one, then left past their result TTL.
type DepthResult struct {
	Tasks       int     `json:"tasks"`
	QueuePerSec float64 `json:"queue_per_sec"`
	DrainPerSec float64 `json:"drain_per_sec"`
	Baseline    Sample  `json:"baseline"`
	Queued      Sample  `json:"queued"`
	Drained     Sample  `json:"drained"`
	AfterTTL    Sample  `json:"after_ttl"`
	ResultTTL   string  `json:"result_ttl"`
	WaitedPast  string  `json:"waited_past_ttl"`
}

// submitAll queues n tasks from the run's producers, pipelined with
// SubmitBatch in chunks of 256.
func submitAll(ctx context.Context, s *strandCycle, producers, n int) error {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		share := n / producers
		if p < n%producers {
			share++
		}
		wg.Go(func() {
			if err := s.submitBatch(ctx, share, 256); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// drain starts the reader and waits until n tasks have run.
func drain(ctx context.Context, e *env, s *strandCycle, t *tally, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	done := t.arm(n)
	defer t.disarm()
	t0 := time.Now()
	if s.stopRun == nil {
		if err := s.startReader(ctx, e, t); err != nil {
			return 0, err
		}
	}
	if err := wait(ctx, done); err != nil {
		return 0, fmt.Errorf("%d of %d tasks ran: %w", t.n.Load(), n, err)
	}
	return t.ended().Sub(t0), nil
}

// depthRun queues cfg.Depth tasks with no worker (strand's defaults, a
// short result TTL), then drains them and waits past the TTL, sampling
// RSS and data dir at each step.
func depthRun(ctx context.Context, e *env) (res *DepthResult, err error) {
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
	res = &DepthResult{Tasks: cfg.Depth, ResultTTL: cfg.ResultTTL.String(), WaitedPast: cfg.Settle.String()}
	res.Baseline = e.sample()
	s, err := newStrand(ctx, e, strandOpts{prefix: "bd", resultTTL: cfg.ResultTTL})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
			err = cerr
		}
	}()
	t := newTally()
	t0 := time.Now()
	if err := submitAll(ctx, s, cfg.Producers, cfg.Depth); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	res.QueuePerSec = float64(cfg.Depth) / time.Since(t0).Seconds()
	res.Queued = e.sample()
	e.log("depth: %d queued at %.0f tasks/s, RSS %s, data dir %s\n", cfg.Depth, res.QueuePerSec, fmtBytes(res.Queued.RSS), fmtBytes(res.Queued.Disk))
	took, err := drain(ctx, e, s, t, cfg.Depth)
	if err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	res.DrainPerSec = float64(cfg.Depth) / took.Seconds()
	res.Drained = e.sample()
	e.log("depth: drained at %.0f tasks/s, RSS %s, data dir %s; waiting %s past the result TTL\n",
		res.DrainPerSec, fmtBytes(res.Drained.RSS), fmtBytes(res.Drained.Disk), cfg.Settle)
	if err := sleep(ctx, cfg.ResultTTL+cfg.Settle); err != nil {
		return nil, err
	}
	res.AfterTTL = e.sample()
	if err := writeHeapProfile(cfg.HeapProfile); err != nil {
		return nil, err
	}
	return res, nil
}

// writeHeapProfile writes the heap's live objects to path ("" = none): what
// the process still holds once the result TTL has passed.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	runtime.GC() // a heap profile is as of the last finished cycle but one
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batched submits through SubmitBatch whatever the cycle's own mode.
type batched struct{ *strandCycle }

func (b batched) submit(ctx context.Context, n int) error { return b.submitBatch(ctx, n, 256) }
