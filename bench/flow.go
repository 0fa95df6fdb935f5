package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// FlowResult is the workflow run: a fan-out/fan-in of FanOut steps and a
// callback, against the same tasks submitted plainly, in one run; and what
// creating a workflow costs, one message against an atomic batch.
type FlowResult struct {
	FanOut      int             `json:"fan_out"`
	Runs        int             `json:"runs"`
	PlainPerSec float64         `json:"plain_steps_per_sec"` // median of Runs
	FlowPerSec  float64         `json:"flow_steps_per_sec"`  // median of Runs
	CreateSteps []int           `json:"create_steps"`
	CreateOne   []time.Duration `json:"create_one_message"`
	CreateBatch []time.Duration `json:"create_atomic_batch"`
}

// flowRun measures the workflow fan-out/fan-in on its own prefix.
func flowRun(ctx context.Context, e *env) (*FlowResult, error) {
	const runs = 3
	fan := e.cfg.FlowN
	before, err := e.streams(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = e.cleanup(cctx, before)
	}()
	pb, err := broker.Connect(ctx, broker.Config{URL: e.url, Prefix: "bf"})
	if err != nil {
		return nil, err
	}
	defer pb.Close()
	wb, err := broker.Connect(ctx, broker.Config{URL: e.url, Prefix: "bf"})
	if err != nil {
		return nil, err
	}
	defer wb.Close()
	var done atomic.Int64
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { done.Add(1); return a + b })
	reg.MustRegister("sum", func(xs []int) int {
		done.Add(1)
		n := 0
		for _, x := range xs {
			n += x
		}
		return n
	})
	rd, err := reader.New(wb, reg, reader.Config{Concurrency: e.cfg.Pool})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	runErr := make(chan error, 1)
	go func() { runErr <- rd.Run(runCtx) }()
	defer func() { stop(); <-runErr }()
	w, err := writer.New(pb, writer.Config{})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	fc := w // workflows are submitted through the writer

	res := &FlowResult{FanOut: fan, Runs: runs}
	var plain, flows []float64
	for range runs {
		// Plain: the same 1 001 tasks, pipelined, no dependencies.
		calls := make([]writer.Call, fan+1)
		for i := range fan {
			calls[i] = writer.Call{Func: "add", Args: []any{i, 1}}
		}
		calls[fan] = writer.Call{Func: "sum", Args: []any{[]int{1, 2, 3}}}
		done.Store(0)
		t0 := time.Now()
		hs, errs := w.SubmitBatch(ctx, calls)
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		for _, h := range hs {
			if _, err := h.Wait(ctx); err != nil {
				return nil, err
			}
		}
		plain = append(plain, float64(fan+1)/time.Since(t0).Seconds())

		steps := make([]*flow.Step, fan)
		for i := range fan {
			steps[i] = flow.Call("p"+strconv.Itoa(i), "add", i, 1)
		}
		t0 = time.Now()
		h, err := flow.Submit(ctx, fc, flow.New(steps...).Then(flow.Call("total", "sum")))
		if err != nil {
			return nil, err
		}
		var total int
		if err := h.Result(ctx, &total); err != nil {
			return nil, err
		}
		flows = append(flows, float64(fan+1)/time.Since(t0).Seconds())
		if want := fan * (fan + 1) / 2; total != want {
			return nil, fmt.Errorf("fan-in summed %d, want %d", total, want)
		}
	}
	slices.Sort(plain)
	slices.Sort(flows)
	res.PlainPerSec, res.FlowPerSec = plain[runs/2], flows[runs/2]
	e.log("flow fan-out/in  %8.0f steps/s  plain %8.0f tasks/s\n", res.FlowPerSec, res.PlainPerSec)

	if err := createCost(ctx, e, fc, res); err != nil {
		return nil, err
	}
	return res, nil
}

// createCost times the creation of a workflow of n steps with no
// dependencies (one message holding the definition) against an ADR-50
// atomic batch of n+1 messages (the definition and n tasks) into a stream
// that allows it, the other all-or-nothing design; median of 5 each.
func createCost(ctx context.Context, e *env, fc *writer.Writer, res *FlowResult) error {
	s, err := e.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "BF_ATOMIC", Subjects: []string{"bfa.>"}, Retention: jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
		AllowAtomicPublish: true, AllowMsgTTL: true,
	})
	if err != nil {
		return fmt.Errorf("atomic stream: %w", err)
	}
	_ = s
	payload := []byte(strings.Repeat("x", 90)) // about one step's envelope
	for _, n := range []int{10, 100, min(999, max(e.cfg.FlowN, 101))} {
		var one, batch []time.Duration
		for try := range 5 {
			steps := make([]*flow.Step, n)
			for i := range n {
				steps[i] = flow.Call("p"+strconv.Itoa(i), "add", i, 1)
			}
			d := flow.New(steps...)
			d.Queue = "bfcreate" // no worker: only the creation is timed
			t0 := time.Now()
			if _, err := flow.Submit(ctx, fc, d); err != nil {
				return fmt.Errorf("create %d: %w", n, err)
			}
			one = append(one, time.Since(t0))

			id := fmt.Sprintf("b%d-%d-%d", n, try, time.Now().UnixNano())
			t0 = time.Now()
			for i := 1; i <= n+1; i++ {
				m := nats.NewMsg(fmt.Sprintf("bfa.%s.%d", id, i))
				m.Data = payload
				m.Header.Set("Nats-Batch-Id", id)
				m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
				if i <= n {
					if err := e.admin.PublishMsg(m); err != nil {
						return err
					}
					continue
				}
				m.Header.Set("Nats-Batch-Commit", "1")
				reply, err := e.admin.RequestMsgWithContext(ctx, m)
				if err != nil {
					return fmt.Errorf("atomic batch of %d: %w", n+1, err)
				}
				if strings.Contains(string(reply.Data), `"error"`) {
					return fmt.Errorf("atomic batch of %d: %s", n+1, reply.Data)
				}
			}
			batch = append(batch, time.Since(t0))
		}
		slices.Sort(one)
		slices.Sort(batch)
		res.CreateSteps = append(res.CreateSteps, n)
		res.CreateOne = append(res.CreateOne, one[2])
		res.CreateBatch = append(res.CreateBatch, batch[2])
		e.log("create %4d steps: one message %s, atomic batch of %d %s\n", n, fmtDur(one[2]), n+1, fmtDur(batch[2]))
	}
	return nil
}

// flowMarkdown writes the workflow run.
func (r *Report) flowMarkdown(b *strings.Builder) {
	f := r.Flow
	if f == nil {
		return
	}
	fmt.Fprintf(b, "Workflow run (pool %d, one worker, msgpack): a fan-out of %d add steps and a fan-in (sum of the list), "+
		"submit → final result; against the same %d tasks submitted plainly with SubmitBatch and waited for; median of %d.\n\n",
		r.Config.Pool, f.FanOut, f.FanOut+1, f.Runs)
	b.WriteString("| run | steps/s | × plain |\n|---|---:|---:|\n")
	fmt.Fprintf(b, "| plain tasks | %.0f | 1 |\n| workflow fan-out/fan-in | %.0f | %s |\n\n", f.PlainPerSec, f.FlowPerSec, ratio(f.FlowPerSec, f.PlainPerSec))
	b.WriteString("Creating a workflow of n steps, all-or-nothing (median of 5): one message holding the definition (strand) against an ADR-50 atomic batch of n+1 messages.\n\n")
	b.WriteString("| steps | one message | atomic batch | batch ÷ one |\n|---:|---:|---:|---:|\n")
	for i, n := range f.CreateSteps {
		fmt.Fprintf(b, "| %d | %s | %s | %.1f |\n", n, fmtDur(f.CreateOne[i]), fmtDur(f.CreateBatch[i]),
			float64(f.CreateBatch[i])/float64(f.CreateOne[i]))
	}
	b.WriteString("\n")
}
