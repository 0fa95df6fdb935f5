package main

import (
	"encoding/json"
	"fmt"
	"io"
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
	Soak   *SoakResult   `json:"soak,omitempty"`
	Notes  []string      `json:"notes,omitempty"`
}

// MarshalJSON of Config leaves out the log writer.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"n": c.N, "producers": c.Producers, "concurrency": c.Pool, "one": c.One, "depth": c.Depth,
		"soak": c.Soak, "soak_n": c.SoakN, "only": c.Only, "result_ttl": c.ResultTTL.String(), "settle": c.Settle.String(),
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
	fmt.Fprintf(&b, "Burst: %d tasks from %d producers, pool of %d; tasks/s = first submit → last completion on the worker side. "+
		"p50/p99: %d tasks one at a time, submit → result seen by the producer. Peak RSS: this process (clients + embedded server).\n\n",
		c.N, c.Producers, c.Pool, c.One)
	if len(r.Cycles) > 0 {
		floor, asq := r.find("floor"), r.find("asynq")
		b.WriteString("| cycle | tasks/s | × floor | × asynq | p50 | p99 | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|\n")
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
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s |\n", x.Name, x.TasksPerSec, fx, ax, fmtDur(x.P50), fmtDur(x.P99), peak)
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
			"then drained by one worker at %.0f tasks/s. RSS is this process after debug.FreeOSMemory; Δ per task is against the baseline.\n\n",
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
	if s := r.Soak; s != nil {
		fmt.Fprintf(&b, "Soak: %d tasks through a running worker (SubmitBatch, result TTL %s) at %.0f tasks/s.\n\n", s.Tasks, s.ResultTTL, s.PerSec)
		b.WriteString("| soak | RSS | Δ RSS | data dir | Δ disk |\n|---|---:|---:|---:|---:|\n")
		for _, row := range []struct {
			name string
			s    Sample
		}{{"baseline", s.Baseline}, {"all done", s.Done}, {"past the result TTL", s.AfterTTL}} {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.name, fmtBytes(row.s.RSS), fmtBytes(row.s.RSS-s.Baseline.RSS),
				fmtBytes(row.s.Disk), fmtBytes(row.s.Disk-s.Baseline.Disk))
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	_, _ = io.WriteString(w, b.String())
}

// targets writes the project's targets with met/short.
func (r *Report) targets(b *strings.Builder) {
	floor, asq := r.find("floor"), r.find("asynq")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "short"
	}
	b.WriteString("Targets:\n")
	for _, name := range []string{"strand", "strand-prefetch", "strand-batch"} {
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
		if floor != nil && floor.P50 > 0 {
			x := float64(s.P50) / float64(floor.P50)
			fmt.Fprintf(b, "- %s p50 ≤ 1.2× floor p50: %.2f× — %s%s\n", name, x, verdict(x <= 1.2), tag)
		}
	}
	b.WriteString("\n")
}
