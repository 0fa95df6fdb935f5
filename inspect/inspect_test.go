package inspect_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/admin"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := inspect.New(nil, inspect.Config{}); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("no broker: %v", err)
	}
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	for _, cfg := range []inspect.Config{{ResultTTL: time.Millisecond}, {TaskTTL: time.Millisecond}, {ResultTTL: 1000 * 24 * time.Hour}} {
		if _, err := inspect.New(env.Broker, cfg); !errors.Is(err, strand.ErrBadOption) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("STRAND_QUEUE", "emails")
	t.Setenv("STRAND_RESULT_TTL", "2h")
	t.Setenv("STRAND_CALLER", "ops")
	cfg, err := inspect.FromEnv()
	if err != nil || cfg.Queue != "emails" || cfg.ResultTTL != 2*time.Hour || cfg.Caller != "ops" {
		t.Fatalf("%+v %v", cfg, err)
	}
	t.Setenv("STRAND_TASK_TTL", "soon")
	if _, err := inspect.FromEnv(); err == nil {
		t.Fatal("a bad duration is accepted")
	}
}

// Queues counts each queue's tasks, dead letters, workers and pause;
// Workers lists the live workers; the collector exports the same.
func TestQueuesWorkersCollector(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"add":  func(a, b int) int { return a + b },
		"fail": func() error { return errors.New("no") },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := newInspector(t, env.Env)
	if ws, err := in.Workers(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("workers before any: %+v %v", ws, err)
	}
	for range 3 {
		if _, err := env.Writer.Submit(ctx, "add", []any{1, 2}, strand.Queue("idle")); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 3, Queues: []string{"default"}, RetryBase: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	h, err := env.Writer.Submit(ctx, "fail", nil, strand.MaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err == nil {
		t.Fatal("fail completed")
	}
	if err := in.Pause(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	var qs []inspect.QueueInfo
	for {
		if qs, err = in.Queues(ctx); err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(qs, func(q inspect.QueueInfo) bool { return q.Queue == "default" }); i >= 0 && qs[i].Dead == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the dead letter is written beside the outcome
	}
	if len(qs) != 2 || qs[0].Queue != "default" || qs[1].Queue != "idle" {
		t.Fatalf("queues %+v", qs)
	}
	d, idle := qs[0], qs[1]
	if !d.Consumed || d.Workers != 1 || d.Paused || d.Idle || d.Depth != 0 {
		t.Errorf("default %+v", d)
	}
	if idle.Depth != 3 || idle.Workers != 0 || !idle.Paused || idle.PausedSince.IsZero() || !idle.Idle || idle.Dead != 0 {
		t.Errorf("idle %+v", idle)
	}
	ws, err := in.Workers(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers %+v %v", ws, err)
	}
	if w := ws[0]; w.Concurrency != 3 || !slices.Equal(w.Queues, []string{"default"}) || !slices.Contains(w.Functions, "add") ||
		w.Beat.IsZero() || w.Started.After(w.Beat) || time.Since(w.Beat) > time.Minute {
		t.Errorf("worker %+v", w)
	}

	reg := prometheus.NewRegistry()
	if err := reg.Register(in.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for k, v := range map[string]float64{
		"strand_queue_depth{idle}": 3, "strand_queue_workers{idle}": 0, "strand_queue_workers{default}": 1,
		"strand_workers": 1, "strand_dlq_tasks{default}": 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}

	if err := in.Resume(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if qs, err := in.Queues(ctx, "idle", "nothing-here"); err != nil || len(qs) != 2 || qs[0].Paused || !qs[0].PausedSince.IsZero() ||
		qs[1].Queue != "nothing-here" || qs[1].Depth != 0 || qs[1].Paused {
		t.Fatalf("queues by name after resume: %+v %v", qs, err)
	}
	if err := in.Pause(ctx, "nothing-here"); err != nil {
		t.Fatal(err)
	}
	if qs, err := in.Queues(ctx, "nothing-here"); err != nil || !qs[0].Paused || qs[0].Idle {
		t.Fatalf("a paused queue with no task: %+v %v", qs, err)
	}
	if _, err := in.Queues(ctx, "bad queue!"); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("queues of a bad queue name: %v", err)
	}
	if err := in.Pause(ctx, "bad queue!"); err == nil {
		t.Fatalf("pause of a bad queue name: %v", err)
	}
	if n, err := in.PurgeDead(ctx); err != nil || n != 1 {
		t.Fatalf("purge dead: %d %v", n, err)
	}
	if dead, err := in.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead after purge: %+v %v", dead, err)
	}
}

// Tasks browses by filter and cursor; Select and Act retry, cancel and
// delete in bulk, each task getting its own result.
func TestTasksSelectAct(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"div": func(a, b int) (int, error) {
			if b == 0 {
				return 0, strand.Permanent(errors.New("division by zero"))
			}
			return a / b, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := newInspector(t, env.Env)
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	var failed, done []string
	for i := range 4 {
		h, err := env.Writer.Submit(ctx, "div", []any{6, i % 2}, strand.Meta(map[string]string{"tenant": "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Result(ctx, nil); err != nil {
			failed = append(failed, h.ID())
		} else {
			done = append(done, h.ID())
		}
	}
	pending, err := env.Writer.Submit(ctx, "div", []any{1, 1}, strand.Queue("nobody"))
	if err != nil {
		t.Fatal(err)
	}

	p, err := in.Tasks(ctx, inspect.Filter{Status: strand.StatusFailed, Meta: map[string]string{"tenant": "acme"}, Limit: 1})
	if err != nil || len(p.Tasks) != 1 || p.Next == "" {
		t.Fatalf("page 1: %+v %v", p, err)
	}
	first := p.Tasks[0]
	if first.Func != "div" || first.Status != strand.StatusFailed || !strings.Contains(first.Error, "division by zero") || first.Kind == "" || first.At.IsZero() {
		t.Errorf("listed %+v", first)
	}
	p, err = in.Tasks(ctx, inspect.Filter{Status: strand.StatusFailed, Limit: 10, Cursor: p.Next})
	if err != nil || len(p.Tasks) != 1 || p.Tasks[0].ID == first.ID {
		t.Fatalf("page 2: %+v %v", p, err)
	}
	if _, err := in.Tasks(ctx, inspect.Filter{Status: "sleeping"}); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("bad status: %v", err)
	}

	if _, err := in.Act(ctx, "explode"); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("unknown action: %v", err)
	}
	// The selection of `strand tasks ACTION` and POST /v1/tasks/actions
	// (internal/admin), then Act on it.
	b := link.Core(env.Broker)
	if _, _, err := admin.Select(ctx, b, admin.Retry, broker.TaskFilter{Status: strand.StatusCompleted}, 0); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("retry of completed tasks: %v", err)
	}
	if _, _, err := admin.Select(ctx, b, "explode", broker.TaskFilter{}, 0); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("select of an unknown action: %v", err)
	}
	sel, more, err := admin.Select(ctx, b, admin.Retry, broker.TaskFilter{Func: "div"}, 0)
	if err != nil || more || len(sel) != 2 {
		t.Fatalf("select retry: %+v %v %v", sel, more, err)
	}
	if sel, more, err := admin.Select(ctx, b, admin.Delete, broker.TaskFilter{}, 3); err != nil || !more || len(sel) != 3 {
		t.Fatalf("select delete, max 3: %+v %v %v", sel, more, err)
	}
	var targets []inspect.Task
	for _, s := range sel {
		targets = append(targets, inspect.Task{Queue: s.Queue, ID: s.ID})
	}
	res, err := in.Act(ctx, "retry", append(targets, inspect.Task{ID: done[0]}, inspect.Task{ID: "never-was"})...)
	if err != nil || len(res) != 4 {
		t.Fatalf("act: %+v %v", res, err)
	}
	for _, r := range res[:2] {
		if r.Err != nil || r.NewID == "" || r.Queue != "default" || !slices.Contains(failed, r.ID) {
			t.Errorf("retried %+v", r)
		}
		info, err := open(t, env, r.NewID).Info(ctx)
		if err != nil || info.Meta["resubmit_of"] != r.ID {
			t.Errorf("new task %+v %v", info, err)
		}
	}
	if !errors.Is(res[2].Err, inspect.ErrWrongState) || !errors.Is(res[3].Err, strand.ErrNotFound) {
		t.Errorf("a completed and an unknown task: %v / %v", res[2].Err, res[3].Err)
	}

	res, err = in.Act(ctx, "cancel", inspect.Task{ID: pending.ID()}, inspect.Task{ID: done[0]})
	if err != nil || res[0].Err != nil || res[0].Queue != "nobody" || !errors.Is(res[1].Err, strand.ErrFinished) {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if st, _ := pending.Status(ctx); st != strand.StatusCancelled {
		t.Fatalf("cancelled task is %s", st)
	}
	res, err = in.Act(ctx, "delete", inspect.Task{ID: done[1], Queue: "default"})
	if err != nil || res[0].Err != nil {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if st, _ := open(t, env, done[1]).Status(ctx); st != strand.StatusUnknown {
		t.Fatalf("deleted task is %s", st)
	}

	st, err := in.Stats(ctx, "default", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	ms := st.Queues["default"]
	processed, nfailed := 0, 0
	for _, m := range ms {
		processed += m.Processed
		nfailed += m.Failed
	}
	if len(ms) != 5 || processed < 4 || nfailed < 2 || st.Partial {
		t.Fatalf("stats %+v", st)
	}
}

// ReplayAll replays every dead letter as a new task linked to the dead one
// by meta replay_of, and empties the dead letters.
func TestReplayAll(t *testing.T) {
	t.Parallel()
	var fixed atomic.Bool
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"send": func(to string) (string, error) {
			if !fixed.Load() {
				return "", errors.New("smtp down")
			}
			return "sent to " + to, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := newInspector(t, env.Env)
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 2, RetryBase: time.Millisecond, Queues: []string{"mail"}}); err != nil {
		t.Fatal(err)
	}
	dead := map[string]string{}
	for _, to := range []string{"ann", "bob"} {
		h, err := env.Writer.Submit(ctx, "send", []any{to}, strand.MaxAttempts(2), strand.Queue("mail"))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Result(ctx, nil); err == nil {
			t.Fatal("send completed")
		}
		dead[h.ID()] = to
	}
	for {
		ds, err := in.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fixed.Store(true)
	ds, err := in.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != strand.StatusDead || d.Func != "send" || d.Queue != "mail" || d.Attempt != 2 || d.Seq == 0 {
			t.Fatalf("dead letter %+v", d)
		}
	}
	ts, err := in.Act(ctx, "replay", append([]inspect.Task{{ID: "never-died"}}, ds...)...)
	if err != nil || len(ts) != 3 || !errors.Is(ts[0].Err, strand.ErrNotFound) {
		t.Fatalf("replay all: %+v %v", ts, err)
	}
	for _, nt := range ts[1:] {
		to, ok := dead[nt.ID]
		if !ok || nt.Err != nil || nt.Queue != "mail" || nt.NewID == "" || nt.NewID == nt.ID {
			t.Fatalf("replayed %+v", nt)
		}
		var s string
		h := open(t, env, nt.NewID)
		if err := h.Result(ctx, &s); err != nil || s != "sent to "+to {
			t.Fatalf("%s: %q %v", nt.NewID, s, err)
		}
		if info, err := h.Info(ctx); err != nil || info.Meta["replay_of"] != nt.ID || info.Func != "send" {
			t.Fatalf("info %+v %v", info, err)
		}
	}
	if ds, err := in.DeadLetters(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("dead letters after replay all: %+v %v", ds, err)
	}
	if ts, err := in.Act(ctx, "replay"); err != nil || len(ts) != 0 {
		t.Fatalf("replay all of none: %+v %v", ts, err)
	}
}
