package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
)

// profile is the profiling of one cycle's burst: a CPU profile, block and
// mutex profiles (every event) and an execution trace, each to a file of
// its own. The block and mutex profiles count from the start of the
// process, sampled only during the profiled bursts: with several cycles,
// each one's includes the earlier ones' (use -only with one cycle). Everything runs in this one process — the embedded server, the
// clients, strand — so the profiles show where a task's time goes on each
// side.
type profile struct {
	prefix string
	files  []*os.File
	before runtime.MemStats
}

// startProfile starts the profiles of cycle to prefix.<cycle>.*; a nil
// profile (prefix "") does nothing.
func startProfile(prefix, cycle string) (*profile, error) {
	if prefix == "" {
		return nil, nil
	}
	p := &profile{prefix: prefix + "." + cycle}
	cpu, err := p.create("cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, p.fail(fmt.Errorf("cpu profile: %w", err))
	}
	tr, err := p.create("trace")
	if err != nil {
		pprof.StopCPUProfile()
		return nil, err
	}
	if err := trace.Start(tr); err != nil {
		pprof.StopCPUProfile()
		return nil, p.fail(fmt.Errorf("trace: %w", err))
	}
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	if err := p.write("allocs0"); err != nil {
		pprof.StopCPUProfile()
		trace.Stop()
		return nil, p.fail(err)
	}
	runtime.ReadMemStats(&p.before)
	return p, nil
}

func (p *profile) create(kind string) (*os.File, error) {
	f, err := os.Create(p.prefix + "." + kind)
	if err != nil {
		return nil, p.fail(err)
	}
	p.files = append(p.files, f)
	return f, nil
}

// fail closes the files opened so far and returns err.
func (p *profile) fail(err error) error {
	for _, f := range p.files {
		_ = f.Close()
	}
	return err
}

// stop ends the profiles, writes the block and mutex profiles, and
// writes to log the allocations of the burst of n tasks (the whole
// process's: server, clients and strand), per task.
func (p *profile) stop(log io.Writer, n int) error {
	if p == nil {
		return nil
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if log != nil && n > 0 {
		fmt.Fprintf(log, "%s: %.1f allocations, %.0f B allocated per task (whole process), %d GCs\n", p.prefix,
			float64(after.Mallocs-p.before.Mallocs)/float64(n), float64(after.TotalAlloc-p.before.TotalAlloc)/float64(n), after.NumGC-p.before.NumGC)
	}
	pprof.StopCPUProfile()
	trace.Stop()
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	var errs []error
	for _, kind := range []string{"block", "mutex", "allocs"} {
		errs = append(errs, p.write(kind))
	}
	for _, f := range p.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// write writes the profile of kind (allocs0: allocs, as the burst starts).
func (p *profile) write(kind string) error {
	f, err := p.create(kind)
	if err != nil {
		return err
	}
	return pprof.Lookup(strings.TrimSuffix(kind, "0")).WriteTo(f, 0)
}
