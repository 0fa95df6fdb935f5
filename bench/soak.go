package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The soak and the sizing run each start a nats-server process of their
// own (server.go), so the RSS they report is the server's, not the bench's
// clients' nor the embedded server's of the other cycles.

// SoakResult is one soak: -soak-n tasks through a running worker with a
// short result TTL on a fresh nats-server process, then that process's
// RSS and store dir sampled every -soak-every past the TTL until both are
// back within 10 % of their baseline or -soak-wait has passed.
type SoakResult struct {
	// Env is what the server process had added to its environment
	// ("" = nothing: the Go runtime's defaults).
	Env       string  `json:"server_env"`
	Tasks     int     `json:"tasks"`
	PerSec    float64 `json:"per_sec"`
	ResultTTL string  `json:"result_ttl"`
	// Rate is the pace the tasks were submitted at (tasks/s; 0: rounds
	// of 40 000 as fast as they go), Warm how many ran before the baseline.
	Rate int `json:"rate"`
	Warm int `json:"warm"`
	// Fresh is once strand's streams and the worker's consumer exist,
	// nothing run. Baseline is Fresh when Warm is 0; otherwise it is once
	// the Warm tasks have run and their TTL has passed, after a GC forced
	// through the server's pprof port: a server that has done the same
	// work on a small scale, so what the soak adds is what grows with
	// history, not the runtime's first touch of its code and pools.
	Fresh    Point `json:"fresh"`
	Baseline Point `json:"baseline"`
	// Done is as the last task finishes.
	Done Point `json:"done"`
	// After are the samples from the moment the TTL has passed for the
	// last outcome (Done + the result TTL) on.
	After []TimedSample `json:"after_ttl"`
	// BackRSS is how long past the TTL the first sample with the RSS within
	// 10 % of the baseline came; BackDisk the same for the store dir less
	// the worker registry (heartbeats, not tasks), BackDiskAll for the
	// whole store dir. Nil: none did.
	BackRSS *time.Duration `json:"rss_back_ns,omitempty"`
	// ForcedRSS is the RSS of the last sample after the GC forced at the
	// end, measured as the baseline was (a GC forced, then SoakEvery).
	ForcedRSS   int64          `json:"rss_forced"`
	BackDisk    *time.Duration `json:"disk_back_ns,omitempty"`
	BackDiskAll *time.Duration `json:"disk_all_back_ns,omitempty"`
	// Heap is the server's Go heap once the samples are taken, after two
	// GCs forced through its pprof port: what is live in it against what
	// its RSS still holds. Forced are samples taken after that GC, to see
	// what the runtime then gives back.
	Heap   *HeapStats    `json:"heap_after_gc,omitempty"`
	Forced []TimedSample `json:"after_forced_gc,omitempty"`
	// Streams are the server's streams as the last sample past the TTL is
	// taken: what the store dir still holds.
	Streams []StreamState `json:"streams"`
	// Files are the store dir's files of 4 kB or more at that moment.
	Files []FileSize `json:"files"`
}

// FileSize is a file of the store dir, by its path under it.
type FileSize struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// bigFiles lists the files under dir of at least min bytes, largest first.
func bigFiles(dir string, min int64) []FileSize {
	var out []FileSize
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() >= min {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, FileSize{Path: rel, Size: info.Size()})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b FileSize) int { return int(b.Size - a.Size) })
	return out
}

// StreamState is one stream's state as JetStream reports it.
type StreamState struct {
	Name    string `json:"name"`
	Msgs    uint64 `json:"msgs"`
	Bytes   uint64 `json:"bytes"`
	Deleted int    `json:"deleted"`
	First   uint64 `json:"first_seq"`
	Last    uint64 `json:"last_seq"`
}

// streamStates lists the server's streams with their state.
func (e *env) streamStates(ctx context.Context) ([]StreamState, error) {
	var out []StreamState
	l := e.js.ListStreams(ctx)
	for info := range l.Info() {
		st := info.State
		out = append(out, StreamState{Name: info.Config.Name, Msgs: st.Msgs, Bytes: st.Bytes, Deleted: st.NumDeleted, First: st.FirstSeq, Last: st.LastSeq})
	}
	if err := l.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	slices.SortFunc(out, func(a, b StreamState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Point is a sample of the server with its MemStats read (no GC forced)
// just after.
type Point struct {
	Sample
	Heap HeapStats `json:"heap"`
}

// TimedSample is a Point at a time past the result TTL.
type TimedSample struct {
	PastTTL time.Duration `json:"past_ttl_ns"`
	Point
}

// point samples the server, then reads its MemStats.
func point(ctx context.Context, xs *extServer) (Point, error) {
	p := Point{Sample: xs.sample()}
	var err error
	p.Heap, err = xs.memStats(ctx, false)
	return p, err
}

// timed samples the server at the time past ttl.
func timed(ctx context.Context, xs *extServer, ttl time.Time) (TimedSample, error) {
	d := time.Since(ttl).Round(100 * time.Millisecond)
	p, err := point(ctx, xs)
	return TimedSample{PastTTL: d, Point: p}, err
}

// SizingResult is the per-task cost on a fresh nats-server process, with
// strand's default result TTL (24h) so outcomes stay: -soak-n tasks queued
// with no worker, then drained by one.
type SizingResult struct {
	Tasks        int       `json:"tasks"`
	QueuePerSec  float64   `json:"queue_per_sec"`
	DrainPerSec  float64   `json:"drain_per_sec"`
	Baseline     Sample    `json:"baseline"`
	Queued       Sample    `json:"queued"`
	Drained      Sample    `json:"drained"`
	BaselineHeap HeapStats `json:"baseline_heap"`
	QueuedHeap   HeapStats `json:"queued_heap"`
	DrainedHeap  HeapStats `json:"drained_heap"`
}

// within says whether v is within 10 % above base.
func within(v, base int64) bool { return v*10 <= base*11 }

// soakAll builds (or takes) nats-server, then runs the sizing run and one
// soak per server environment: the default, then each of cfg.SoakEnv.
func soakAll(ctx context.Context, e *env, rep *Report) error {
	cfg := e.cfg
	dir, err := os.MkdirTemp("", "strand-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := cfg.NATSServer
	if bin == "" {
		t0 := time.Now()
		if bin, err = buildNATSServer(ctx, dir); err != nil {
			return err
		}
		e.log("soak: built nats-server in %s\n", time.Since(t0).Round(time.Millisecond))
	}
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		rep.ExtServer = strings.TrimSpace(string(out))
	}
	if rep.Sizing, err = sizingRun(ctx, e, bin, dir); err != nil {
		return fmt.Errorf("sizing: %w", err)
	}
	for _, senv := range append([]string{""}, cfg.SoakEnv...) {
		res, err := soakRun(ctx, e, bin, dir, senv)
		if err != nil {
			return fmt.Errorf("soak (server env %q): %w", senv, err)
		}
		rep.Soaks = append(rep.Soaks, res)
	}
	return nil
}

// onExt starts a nats-server process with env and runs f with an env of
// the bench's on it; then deletes the streams f left and stops the server.
func onExt(ctx context.Context, e *env, bin, dir, senv string, f func(xe *env, xs *extServer) error) (err error) {
	var extra []string
	if senv != "" {
		extra = strings.Fields(senv)
	}
	xs, err := startExtServer(ctx, bin, dir, extra)
	if err != nil {
		return err
	}
	defer func() {
		if serr := xs.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	nc, err := nats.Connect(xs.url, nats.Name("bench-admin"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	xe := &env{cfg: e.cfg, url: xs.url, admin: nc, js: js, log: e.log}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := xe.cleanup(cctx, nil); err == nil && cerr != nil {
			err = cerr
		}
	}()
	e.log("soak: nats-server pid %s on %s, store %s, env %q\n", xs.pid, xs.url, xs.storeDir, senv)
	if err := f(xe, xs); err != nil {
		return err
	}
	return xs.alive()
}

// sizingRun: on a fresh server, strand's streams and no worker (so no
// consumer yet), -soak-n tasks queued with SubmitBatch, then
// drained by one worker; RSS, store dir and the server's live heap at each
// step. The result TTL is strand's default, so the outcomes stay.
func sizingRun(ctx context.Context, e *env, bin, dir string) (res *SizingResult, err error) {
	cfg := e.cfg
	res = &SizingResult{Tasks: cfg.SoakN}
	err = onExt(ctx, e, bin, dir, "", func(xe *env, xs *extServer) (err error) {
		s, err := newStrand(ctx, xe, strandOpts{prefix: "bz"})
		if err != nil {
			return err
		}
		defer func() {
			if cerr := s.close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
				err = cerr
			}
		}()
		// step settles, samples RSS and disk as they are, then reads the
		// live heap (which forces a GC: RSS first).
		step := func(smp *Sample, h *HeapStats) error {
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			*smp = xs.sample()
			var err error
			*h, err = xs.memStats(ctx, true)
			return err
		}
		if err := step(&res.Baseline, &res.BaselineHeap); err != nil {
			return err
		}
		t0 := time.Now()
		if err := submitAll(ctx, s, cfg.Producers, cfg.SoakN); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		res.QueuePerSec = float64(cfg.SoakN) / time.Since(t0).Seconds()
		if err := step(&res.Queued, &res.QueuedHeap); err != nil {
			return err
		}
		e.log("sizing: %d queued at %.0f tasks/s, server RSS %s (heap %s), store %s\n", cfg.SoakN, res.QueuePerSec,
			fmtBytes(res.Queued.RSS), fmtBytes(res.QueuedHeap.HeapAlloc), fmtBytes(res.Queued.Disk))
		took, err := drain(ctx, xe, s, newTally(), cfg.SoakN)
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		res.DrainPerSec = float64(cfg.SoakN) / took.Seconds()
		if err := step(&res.Drained, &res.DrainedHeap); err != nil {
			return err
		}
		e.log("sizing: drained at %.0f tasks/s, server RSS %s (heap %s), store %s\n", res.DrainPerSec,
			fmtBytes(res.Drained.RSS), fmtBytes(res.DrainedHeap.HeapAlloc), fmtBytes(res.Drained.Disk))
		return nil
	})
	return res, err
}

// soakRun: on a fresh server with env, a running worker (reader defaults,
// Concurrency = pool), -soak-n tasks submitted with SubmitBatch in rounds of
// at most 40 000 (so no round waits on a deep queue), result TTL
// -result-ttl; then samples past the TTL.
func soakRun(ctx context.Context, e *env, bin, dir, senv string) (res *SoakResult, err error) {
	cfg := e.cfg
	res = &SoakResult{Env: senv, Tasks: cfg.SoakN, ResultTTL: cfg.ResultTTL.String(), Rate: cfg.SoakRate, Warm: cfg.SoakWarm}
	err = onExt(ctx, e, bin, dir, senv, func(xe *env, xs *extServer) (err error) {
		s, err := newStrand(ctx, xe, strandOpts{prefix: "bs", resultTTL: cfg.ResultTTL})
		if err != nil {
			return err
		}
		defer func() {
			if cerr := s.close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
				err = cerr
			}
		}()
		t := newTally()
		if err := s.startReader(ctx, xe, t); err != nil {
			return err
		}
		// The reader creates its consumer as it starts: let it.
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		if res.Fresh, err = point(ctx, xs); err != nil {
			return err
		}
		res.Baseline = res.Fresh
		if cfg.SoakWarm > 0 {
			if err := feed(ctx, s, t, cfg, cfg.SoakWarm); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			if err := sleep(ctx, cfg.ResultTTL+cfg.Settle); err != nil {
				return err
			}
			if _, err := xs.memStats(ctx, true); err != nil {
				return err
			}
			if err := sleep(ctx, cfg.SoakEvery); err != nil {
				return err
			}
			if res.Baseline, err = point(ctx, xs); err != nil {
				return err
			}
			e.log("soak: %d tasks of warm-up done and past their TTL: server RSS %s (fresh %s), store %s\n",
				cfg.SoakWarm, fmtBytes(res.Baseline.RSS), fmtBytes(res.Fresh.RSS), fmtBytes(res.Baseline.Disk))
		}
		t0 := time.Now()
		if err := feed(ctx, s, t, cfg, cfg.SoakN); err != nil {
			return err
		}
		done := time.Now()
		res.PerSec = float64(cfg.SoakN) / done.Sub(t0).Seconds()
		if res.Done, err = point(ctx, xs); err != nil {
			return err
		}
		e.log("soak: %d tasks at %.0f tasks/s, server RSS %s (baseline %s), store %s (baseline %s); sampling past the result TTL\n",
			cfg.SoakN, res.PerSec, fmtBytes(res.Done.RSS), fmtBytes(res.Baseline.RSS), fmtBytes(res.Done.Disk), fmtBytes(res.Baseline.Disk))
		ttl := done.Add(cfg.ResultTTL)
		if err := sleep(ctx, time.Until(ttl)); err != nil {
			return err
		}
		for {
			smp, err := timed(ctx, xs, ttl)
			if err != nil {
				return err
			}
			res.After = append(res.After, smp)
			if res.BackRSS == nil && within(smp.RSS, res.Baseline.RSS) {
				res.BackRSS = &smp.PastTTL
			}
			if res.BackDisk == nil && within(smp.Disk-smp.Registry, res.Baseline.Disk-res.Baseline.Registry) {
				res.BackDisk = &smp.PastTTL
			}
			if res.BackDiskAll == nil && within(smp.Disk, res.Baseline.Disk) {
				res.BackDiskAll = &smp.PastTTL
			}
			e.log("soak: TTL + %s: server RSS %s (anon %s), store %s (worker registry %s); heap alloc %s, retained %s, next GC %s, GCs %d\n", smp.PastTTL,
				fmtBytes(smp.RSS), fmtBytes(smp.Anon), fmtBytes(smp.Disk), fmtBytes(smp.Registry), fmtBytes(smp.Heap.HeapAlloc), fmtBytes(smp.Heap.Retained()),
				fmtBytes(smp.Heap.NextGC), smp.Heap.NumGC)
			if res.BackRSS != nil && res.BackDisk != nil || smp.PastTTL >= cfg.SoakWait {
				break
			}
			if err := sleep(ctx, min(cfg.SoakEvery, cfg.SoakWait-smp.PastTTL)); err != nil {
				return err
			}
		}
		if res.Streams, err = xe.streamStates(ctx); err != nil {
			return err
		}
		res.Files = bigFiles(xs.storeDir, 4096)
		for _, f := range res.Files {
			e.log("soak: store file %s: %s\n", f.Path, fmtBytes(f.Size))
		}
		for _, st := range res.Streams {
			e.log("soak: stream %s: %d msgs, %s, %d deleted, seq %d..%d\n", st.Name, st.Msgs, fmtBytes(int64(st.Bytes)), st.Deleted, st.First, st.Last)
		}
		h, err := xs.memStats(ctx, true)
		if err != nil {
			return err
		}
		res.Heap = &h
		for i := range 4 {
			if i > 0 {
				if err := sleep(ctx, cfg.SoakEvery); err != nil {
					return err
				}
			}
			smp, err := timed(ctx, xs, ttl)
			if err != nil {
				return err
			}
			res.Forced = append(res.Forced, smp)
			if i == 1 {
				res.ForcedRSS = smp.RSS // SoakEvery after the GC: as the baseline
			}
			e.log("soak: TTL + %s, GC forced: server RSS %s (anon %s); heap alloc %s, retained %s\n", smp.PastTTL,
				fmtBytes(smp.RSS), fmtBytes(smp.Anon), fmtBytes(smp.Heap.HeapAlloc), fmtBytes(smp.Heap.Retained()))
		}
		if cfg.HeapProfile != "" {
			name := cfg.HeapProfile + ".soak-server"
			if senv != "" {
				name += "-" + strings.NewReplacer("=", "", " ", "-", "/", "").Replace(senv)
			}
			if err := xs.saveHeapProfile(ctx, name); err != nil {
				return fmt.Errorf("server heap profile: %w", err)
			}
		}
		return nil
	})
	return res, err
}

// feed submits n tasks to s and waits for the worker to finish them: at
// cfg.SoakRate tasks/s, in a SubmitBatch every 10 ms, or with no pace in
// rounds of at most 40 000 from cfg.Producers producers.
func feed(ctx context.Context, s *strandCycle, t *tally, cfg Config, n int) error {
	if cfg.SoakRate <= 0 {
		for left := n; left > 0; {
			k := min(left, 40000)
			if _, err := burst(ctx, batched{s}, t, cfg.Producers, k); err != nil {
				return err
			}
			left -= k
		}
		return nil
	}
	done := t.arm(n)
	defer t.disarm()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	t0 := time.Now()
	for sent := 0; sent < n; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := min(n, int(time.Since(t0).Seconds()*float64(cfg.SoakRate)))
		if k := due - sent; k > 0 {
			if err := s.submitBatch(ctx, k, k); err != nil {
				return fmt.Errorf("submit: %w", err)
			}
			sent += k
		}
	}
	wctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	if err := wait(wctx, done); err != nil {
		return fmt.Errorf("%d of %d tasks finished: %w", t.n.Load(), n, err)
	}
	return nil
}
