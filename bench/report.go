package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CycleResult is one cycle's figures.
type CycleResult struct {
	Name string `json:"name"`
	Desc string `json:"desc"`
	// TasksPerSec is the burst: first submit → last completion on the worker side.
	TasksPerSec float64 `json:"tasks_per_sec"`
	// P50 and P99 are one task at a time: submit → result seen by the producer.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// CPUPerTask is this process's CPU time (clients and embedded server,
	// user + system) over the burst, per task; not a process outside it
	// (redis-server for asynq).
	CPUPerTask time.Duration `json:"cpu_per_task_ns"`
	// PeakRSS is this process's (clients and embedded server) over the cycle.
	PeakRSS int64 `json:"peak_rss"`
	// ExtraRSS is the peak RSS of a process outside this one the cycle
	// needs (redis-server for asynq), named ExtraName.
	ExtraName string `json:"extra_name,omitempty"`
	ExtraRSS  int64  `json:"extra_rss,omitempty"`
}

// Report is one run.
type Report struct {
	Date   string        `json:"date"`
	Host   string        `json:"host"`
	CPUs   int           `json:"cpus"`
	Go     string        `json:"go"`
	Server string        `json:"nats_server"`
	Config Config        `json:"config"`
	Cycles []CycleResult `json:"cycles"`
	Depth  *DepthResult  `json:"depth,omitempty"`
	Flow   *FlowResult   `json:"flow,omitempty"`
	// Delayed is the delayed run: strand.At tasks fired by the server.
	Delayed *DelayedResult `json:"delayed,omitempty"`
	// ExtServer is the version of the soak's own nats-server binary.
	ExtServer string        `json:"soak_nats_server,omitempty"`
	Sizing    *SizingResult `json:"sizing,omitempty"`
	Soaks     []*SoakResult `json:"soaks,omitempty"`
	Notes     []string      `json:"notes,omitempty"`
}

// MarshalJSON of Config leaves out the log writer.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"n": c.N, "producers": c.Producers, "concurrency": c.Pool, "one": c.One, "depth": c.Depth,
		"soak": c.Soak, "soak_n": c.SoakN, "soak_rate": c.SoakRate, "soak_warm": c.SoakWarm, "soak_wait": c.SoakWait.String(), "soak_every": c.SoakEvery.String(), "soak_env": c.SoakEnv,
		"only": c.Only, "result_ttl": c.ResultTTL.String(), "settle": c.Settle.String(), "flow_n": c.FlowN,
	})
}

func (r *Report) find(name string) *CycleResult {
	for i := range r.Cycles {
		if r.Cycles[i].Name == name {
			return &r.Cycles[i]
		}
	}
	return nil
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func fmtBytes(n int64) string {
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MB", neg, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f kB", neg, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d B", neg, n)
}

func ratio(a, ref float64) string {
	if ref == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/ref)
}

// perTask is a delta spread over n tasks, in bytes.
func perTask(d int64, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%+.0f B", float64(d)/float64(n))
}

// Markdown writes the report as tables.
func (r *Report) Markdown(w io.Writer) {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "strand bench — %s, %s, %d CPUs, %s, nats-server %s (embedded, clients over TCP, file storage)\n\n",
		r.Date, r.Host, r.CPUs, r.Go, r.Server)
	if len(r.Cycles) > 0 {
		fmt.Fprintf(&b, "Burst: %d tasks from %d producers, pool of %d; tasks/s = first submit → last completion on the worker side. "+
			"p50/p99: %d tasks one at a time, submit → result seen by the producer. CPU/task: this process's CPU time (clients + embedded server, user + system) over the burst, per task (not redis-server's). Peak RSS: this process (clients + embedded server).\n\n",
			c.N, c.Producers, c.Pool, c.One)
		floor, asq := r.find("floor"), r.find("asynq")
		b.WriteString("| cycle | tasks/s | × floor | × asynq | CPU/task | p50 | p99 | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Cycles {
			fx, ax := "—", "—"
			if floor != nil {
				fx = ratio(x.TasksPerSec, floor.TasksPerSec)
			}
			if asq != nil {
				ax = ratio(x.TasksPerSec, asq.TasksPerSec)
			}
			peak := fmtBytes(x.PeakRSS)
			if x.ExtraName != "" {
				peak += fmt.Sprintf(" (+ %s %s)", x.ExtraName, fmtBytes(x.ExtraRSS))
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", x.Name, x.TasksPerSec, fx, ax, fmtMicros(x.CPUPerTask), fmtDur(x.P50), fmtDur(x.P99), peak)
		}
		b.WriteString("\n")
		for _, x := range r.Cycles {
			fmt.Fprintf(&b, "- **%s**: %s\n", x.Name, x.Desc)
		}
		b.WriteString("\n")
		r.targets(&b)
	}
	if d := r.Depth; d != nil {
		fmt.Fprintf(&b, "Depth run (strand defaults, pool %d, writer.Config{ResultTTL: %s}): %d tasks queued with SubmitBatch and no worker at %.0f tasks/s, "+
			"then drained by one worker at %.0f tasks/s. RSS is this one process — the bench's clients and the embedded server together — "+
			"after debug.FreeOSMemory, so not the server's alone (the soak's sizing run has that); Δ per task is against the baseline.\n\n",
			c.Pool, d.ResultTTL, d.Tasks, d.QueuePerSec, d.DrainPerSec)
		b.WriteString("| depth run | RSS | Δ RSS / task | data dir | Δ disk / task |\n|---|---:|---:|---:|---:|\n")
		rows := []struct {
			name string
			s    Sample
		}{
			{"baseline", d.Baseline},
			{fmt.Sprintf("%d queued", d.Tasks), d.Queued},
			{"drained", d.Drained},
			{fmt.Sprintf("result TTL + %s later", d.WaitedPast), d.AfterTTL},
		}
		for i, row := range rows {
			dr, dd := "—", "—"
			if i > 0 {
				dr, dd = perTask(row.s.RSS-d.Baseline.RSS, d.Tasks), perTask(row.s.Disk-d.Baseline.Disk, d.Tasks)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.name, fmtBytes(row.s.RSS), dr, fmtBytes(row.s.Disk), dd)
		}
		b.WriteString("\n")
	}
	if d := r.Delayed; d != nil {
		fmt.Fprintf(&b, "Delayed run (strand defaults, pool %d, %d producers): %d tasks submitted with strand.At(one second) at %.0f tasks/s "+
			"while a worker runs; the server fired them at that second, and the worker relayed and ran them all %s after it: %.0f tasks/s.",
			c.Pool, c.Producers, d.Tasks, d.SubmitPerSec, d.Late, d.RunPerSec)
		if d.SubmitLate {
			b.WriteString(" (Submitting ran past the due second.)")
		}
		b.WriteString("\n\n")
	}
	r.flowMarkdown(&b)
	r.sizing(&b)
	for _, s := range r.Soaks {
		r.soak(&b, s)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	_, _ = io.WriteString(w, b.String())
}

// targets writes the project's targets with met/short.
func (r *Report) targets(b *strings.Builder) {
	floor, asq, proto := r.find("floor"), r.find("asynq"), r.find("proto")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "short"
	}
	b.WriteString("Targets:\n")
	for _, name := range []string{"strand", "strand-noprefetch", "strand-prefetch", "strand-batch"} {
		s := r.find(name)
		if s == nil {
			continue
		}
		tag := ""
		if name != "strand" {
			tag = " (for information)"
		}
		if asq != nil {
			x := s.TasksPerSec / asq.TasksPerSec
			fmt.Fprintf(b, "- %s tasks/s ≥ 2× asynq: %.2f× — %s%s\n", name, x, verdict(x >= 2), tag)
		}
		if proto != nil && proto.TasksPerSec > 0 {
			x := s.TasksPerSec / proto.TasksPerSec
			fmt.Fprintf(b, "- %s tasks/s ≥ 0.8× proto: %.2f× — %s%s\n", name, x, verdict(x >= 0.8), tag)
		}
		if floor != nil && floor.P50 > 0 {
			x := float64(s.P50) / float64(floor.P50)
			fmt.Fprintf(b, "- %s p50 ≤ 1.2× floor p50: %.2f× — %s%s\n", name, x, verdict(x <= 1.2), tag)
		}
	}
	if keyed, limited := r.find("strand-keyed"), r.find("strand-limit"); keyed != nil && limited != nil && keyed.TasksPerSec > 0 {
		x := limited.TasksPerSec / keyed.TasksPerSec
		fmt.Fprintf(b, "- strand-limit tasks/s ≥ 0.75× strand-keyed (a per-key limit costs under a quarter): %.2f× — %s\n", x, verdict(x >= 0.75))
	}
	b.WriteString("\n")
}

// sizing writes the sizing run's table.
func (r *Report) sizing(b *strings.Builder) {
	z := r.Sizing
	if z == nil {
		return
	}
	fmt.Fprintf(b, "Sizing — %s, a process of its own (its VmRSS and store dir); strand defaults, result TTL 24h so outcomes stay. "+
		"%d tasks queued with SubmitBatch and no worker (so no consumer yet: the worker makes it as it starts), at %.0f tasks/s; then drained by one worker "+
		"(pool %d) at %.0f tasks/s, leaving one kept outcome per task and no task. Each row 1 s after its step: RSS and store dir as they are, "+
		"then the live heap (HeapAlloc after two GCs forced through the server's pprof port). Δ per task is against the baseline.\n\n",
		r.extServer(), z.Tasks, z.QueuePerSec, r.Config.Pool, z.DrainPerSec)
	b.WriteString("| sizing | server RSS | Δ RSS / task | live heap | Δ heap / task | store dir | Δ disk / task |\n|---|---:|---:|---:|---:|---:|---:|\n")
	rows := []struct {
		name string
		s    Sample
		h    HeapStats
	}{
		{"baseline (streams made)", z.Baseline, z.BaselineHeap},
		{fmt.Sprintf("%d queued, no worker", z.Tasks), z.Queued, z.QueuedHeap},
		{fmt.Sprintf("drained: %d outcomes kept", z.Tasks), z.Drained, z.DrainedHeap},
	}
	for i, row := range rows {
		dr, dh, dd := "—", "—", "—"
		if i > 0 {
			dr = perTask(row.s.RSS-z.Baseline.RSS, z.Tasks)
			dh = perTask(row.h.HeapAlloc-z.BaselineHeap.HeapAlloc, z.Tasks)
			dd = perTask(row.s.Disk-z.Baseline.Disk, z.Tasks)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", row.name, fmtBytes(row.s.RSS), dr, fmtBytes(row.h.HeapAlloc), dh, fmtBytes(row.s.Disk), dd)
	}
	b.WriteString("\n")
}

func (r *Report) extServer() string {
	if r.ExtServer == "" {
		return "nats-server"
	}
	return r.ExtServer
}

// soak writes one soak's table and verdict.
func (r *Report) soak(b *strings.Builder, s *SoakResult) {
	env := "the Go runtime's defaults"
	if s.Env != "" {
		env = "`" + s.Env + "`"
	}
	c := r.Config
	pace := "SubmitBatch from " + strconv.Itoa(c.Producers) + " producers in rounds of at most 40 000"
	if s.Rate > 0 {
		pace = fmt.Sprintf("paced at %d tasks/s (a SubmitBatch every 10 ms)", s.Rate)
	}
	base := "strand's streams and the worker's consumer made, nothing run"
	if s.Warm > 0 {
		base = fmt.Sprintf("the same server once %d tasks of warm-up have run the same way and their TTL has passed, after a GC forced through its pprof port "+
			"(so the baseline has touched the code, buffers and pools a worked server has, and its Go runtime has grown its heap arenas' metadata "+
			"and spans to the load's peak once, which it keeps: with a warm-up as large as the soak, what the soak leaves past that is what grows with history; "+
			"\"fresh\" is before the warm-up, for comparison)", s.Warm)
	}
	fmt.Fprintf(b, "Soak — server environment: %s; %s, a process of its own. %d tasks through one running worker "+
		"(reader defaults, Concurrency %d), %s, result TTL %s, at %.0f tasks/s. "+
		"Baseline: %s. Then a sample every %s from the moment the TTL has passed "+
		"for the last outcome, until RSS and store dir are both within 10 %% of their baseline or %s has passed; no GC is forced before these samples. "+
		"RSS is the server's VmRSS (anonymous + file-backed pages); heap is its runtime.MemStats read through its pprof port without forcing a GC: "+
		"HeapAlloc (live and not yet collected), retained (spans in use + free spans not given back to the OS), the next GC's heap goal, GCs so far. "+
		"The worker registry (KV_BS_WORKERS, one heartbeat record rewritten every 5 s) is a memory stream (a file stream if the server allows no memory storage, or one made by an older strand): whatever of it is on disk is shown apart and left out of the first verdict on the store dir.\n\n",
		env, r.extServer(), s.Tasks, c.Pool, pace, s.ResultTTL, s.PerSec, base, c.SoakEvery, c.SoakWait)
	b.WriteString("| soak | server RSS | × baseline | anon + file | heap alloc / retained / next GC | GCs | store dir | × baseline | of it, worker registry |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, x Point) {
		fmt.Fprintf(b, "| %s | %s | %s | %s + %s | %s / %s / %s | %d | %s | %s | %s |\n", name,
			fmtBytes(x.RSS), ratio(float64(x.RSS), float64(s.Baseline.RSS)), fmtBytes(x.Anon), fmtBytes(x.File),
			fmtBytes(x.Heap.HeapAlloc), fmtBytes(x.Heap.Retained()), fmtBytes(x.Heap.NextGC), x.Heap.NumGC,
			fmtBytes(x.Disk), ratio(float64(x.Disk), float64(s.Baseline.Disk)), fmtBytes(x.Registry))
	}
	if s.Warm > 0 {
		row("fresh (no task yet)", s.Fresh)
	}
	row("baseline", s.Baseline)
	row(fmt.Sprintf("%d done", s.Tasks), s.Done)
	for _, a := range s.After {
		row("TTL + "+a.PastTTL.String(), a.Point)
	}
	for _, a := range s.Forced {
		row("TTL + "+a.PastTTL.String()+", 2 GCs forced", a.Point)
	}
	b.WriteString("\n")
	var last Point
	var lastAt time.Duration
	if n := len(s.After); n > 0 {
		last, lastAt = s.After[n-1].Point, s.After[n-1].PastTTL
	}
	verdict := func(what string, back *time.Duration, v, base int64) {
		if back != nil {
			fmt.Fprintf(b, "- %s back within 10 %% of its baseline at TTL + %s.\n", what, *back)
			return
		}
		fmt.Fprintf(b, "- %s **not** back within 10 %% by TTL + %s: %s against %s (%s over, × %s).\n", what, lastAt,
			fmtBytes(v), fmtBytes(base), fmtBytes(v-base), ratio(float64(v), float64(base)))
	}
	verdict("RSS", s.BackRSS, last.RSS, s.Baseline.RSS)
	if s.Warm > 0 && s.ForcedRSS > 0 {
		word := "within"
		if !within(s.ForcedRSS, s.Baseline.RSS) {
			word = "**not** within"
		}
		fmt.Fprintf(b, "- RSS measured as the baseline was (a GC forced through the pprof port, then %s): %s against %s (× %s), %s 10 %% of it.\n",
			r.Config.SoakEvery, fmtBytes(s.ForcedRSS), fmtBytes(s.Baseline.RSS), ratio(float64(s.ForcedRSS), float64(s.Baseline.RSS)), word)
	}
	verdict("Store dir less the worker registry", s.BackDisk, last.Disk-last.Registry, s.Baseline.Disk-s.Baseline.Registry)
	verdict("Whole store dir", s.BackDiskAll, last.Disk, s.Baseline.Disk)
	if len(s.Streams) > 0 {
		var l []string
		for _, st := range s.Streams {
			l = append(l, fmt.Sprintf("%s %d msgs (%s)", st.Name, st.Msgs, fmtBytes(int64(st.Bytes))))
		}
		fmt.Fprintf(b, "- Streams at TTL + %s: %s.\n", lastAt, strings.Join(l, ", "))
	}
	if len(s.Files) > 0 {
		var l []string
		for _, f := range s.Files {
			l = append(l, fmt.Sprintf("`%s` %s", f.Path, fmtBytes(f.Size)))
		}
		fmt.Fprintf(b, "- Store files of 4 kB or more then: %s.\n", strings.Join(l, ", "))
	}
	if h := s.Heap; h != nil {
		fmt.Fprintf(b, "- The server's heap after two GCs forced at the end: %s live (HeapAlloc at baseline, no GC forced: %s), %s in spans, %s free of which %s given back to the OS; "+
			"stacks %s, GC metadata %s, other %s; %s mapped in all.\n",
			fmtBytes(h.HeapAlloc), fmtBytes(s.Baseline.Heap.HeapAlloc), fmtBytes(h.HeapInuse), fmtBytes(h.HeapIdle), fmtBytes(h.HeapReleased),
			fmtBytes(h.StackInuse), fmtBytes(h.GCSys), fmtBytes(h.OtherSys), fmtBytes(h.Sys))
	}
	b.WriteString("\n")
}
