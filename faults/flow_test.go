package faults_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/writer"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/flow"
)

// TestFlowWorkerKilledIn200StepDAG: three worker processes run a DAG of 200
// add steps (10 layers of 20, each step after two of the layer before); one
// worker is SIGKILLed half-way. Every step completes with the right result,
// and no step is released twice: the tasks stream has stored exactly one
// message per step (and the start task), and no step started twice as a
// first attempt (a step the dead worker held runs again as attempt 2; its
// first attempt may have died before its running state was written).
func TestFlowWorkerKilledIn200StepDAG(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	const layers, width = 10, 20
	srv := startServer(t)
	b, _ := connect(t, srv)
	rec := watch(t, b)
	env := []string{"STRAND_ACK_WAIT=3s", "STRAND_RUNNING_AFTER=-1ms"}
	w1 := startWorker(t, srv, "w1", env, "--concurrency", "4")
	startWorker(t, srv, "w2", env, "--concurrency", "4")
	startWorker(t, srv, "w3", env, "--concurrency", "4")

	name := func(l, i int) string { return fmt.Sprintf("L%d_%02d", l, i) }
	want := map[string]int{}
	d := flow.New()
	for i := range width {
		d.Steps = append(d.Steps, flow.Call(name(0, i), "add", i, 1))
		want[name(0, i)] = i + 1
	}
	for l := 1; l < layers; l++ {
		for i := range width {
			p, q := name(l-1, i), name(l-1, (i+1)%width)
			d.Steps = append(d.Steps, flow.Call(name(l, i), "add").After(p, q))
			want[name(l, i)] = want[p] + want[q]
		}
	}
	c, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := ctxFor(t, 3*time.Minute)
	h, err := flow.Submit(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	prefix := h.ID() + "="
	ok := rec.waitFor(60*time.Second, func(r *records) bool {
		n := 0
		for id := range r.outcomes {
			if strings.HasPrefix(id, prefix) {
				n++
			}
		}
		return n >= 60
	})
	if !ok {
		t.Fatal("60 steps never completed")
	}
	w1.signal(syscall.SIGKILL)
	if code := w1.wait(10 * time.Second); code != -1 {
		t.Fatalf("w1 after SIGKILL: exit code %d", code)
	}
	t.Logf("w1 killed")

	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := flow.StatusOf(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != strand.StatusCompleted || len(st.Steps) != layers*width {
		t.Fatalf("workflow %s (%v at %s), %d steps", st.Status, st.Err, st.Step, len(st.Steps))
	}
	for _, s := range st.Steps {
		if s.Status != strand.StatusCompleted || string(s.Result) != fmt.Sprint(want[s.Name]) {
			t.Errorf("step %s: %s %s, want %d", s.Name, s.Status, s.Result, want[s.Name])
		}
	}
	outcomes, running, bad := rec.snapshot()
	if len(bad) > 0 {
		t.Errorf("undecodable events: %v", bad)
	}
	redone := 0
	for _, s := range st.Steps {
		if n := len(outcomes[s.TaskID]); n != 1 {
			t.Errorf("step %s: %d outcome events, want 1", s.Name, n)
		}
		first := 0
		for _, r := range running[s.TaskID] {
			if r.Attempt == 1 {
				first++
			} else {
				redone++
			}
		}
		if first > 1 {
			t.Errorf("step %s started %d times as a first attempt: released more than once", s.Name, first)
		}
	}
	info, err := link.Core(b).JetStream().Stream(ctx, link.Core(b).Names().TasksStream())
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.LastSeq; got != layers*width+1 {
		t.Errorf("the tasks stream stored %d messages, want %d (the start task and one per step)", got, layers*width+1)
	}
	t.Logf("%d steps ran again after the kill (attempt 2)", redone)
}

// TestFlowSubmitterKilled: `strand flow run --wait` is SIGKILLed right
// after it printed the workflow's id; the workers carry the workflow on to
// its end without it.
func TestFlowSubmitterKilled(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	b, _ := connect(t, srv)
	startWorker(t, srv, "w1", nil)
	doc := filepath.Join(t.TempDir(), "slow.json")
	if err := os.WriteFile(doc, []byte(`{"steps": {
		"wait": {"func": "sleep", "args": [300]},
		"a": {"func": "add", "args": [1, 2], "after": ["wait"], "results": "none"},
		"b": {"func": "add", "args": [10], "after": ["a"]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := start(t, "submitter", "flow ", nil, "flow", "run", "--server", srv.url(), "--wait", doc)
	sub.signal(syscall.SIGKILL)
	sub.wait(10 * time.Second)
	m := regexp.MustCompile(`flow (\S+)`).FindStringSubmatch(sub.out.String())
	if m == nil {
		t.Fatalf("no id in the submitter's output: %s", sub.out.String())
	}
	c, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := ctxFor(t, time.Minute)
	h, err := flow.Open(ctx, c, m[1])
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.Result(ctx, &n); err != nil || n != 13 {
		t.Fatalf("workflow after its submitter died: %d, %v", n, err)
	}
}

// TestFlowCLIWithDev: with `strand dev` running, the examples of
// examples/flows run from the CLI: a chain add(1,2) → add(·,10) prints 13,
// a fan-in of five adds to sum prints 30; status prints the documented
// JSON; cancel stops a workflow.
func TestFlowCLIWithDev(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	addr := freeAddr(t)
	dev := start(t, "dev", serverReady, nil, "dev", "--addr", addr, "--data", t.TempDir())
	defer dev.stop(30 * time.Second)
	url := "nats://" + addr
	examples, err := filepath.Abs("../examples/flows")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"chain.json": "13", "fanin.json": "30", "diamond.json": "34"} {
		code, out, errOut := run(t, "flow", "run", "--server", url, "--wait", filepath.Join(examples, file))
		if code != 0 || strings.TrimSpace(out) != want {
			t.Errorf("flow run %s: exit %d, stdout %q, want %s\nstderr: %s", file, code, out, want, errOut)
		}
	}
	code, out, errOut := run(t, "flow", "run", "--server", url, filepath.Join(examples, "chain.json"))
	if code != 0 {
		t.Fatalf("flow run: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	time.Sleep(500 * time.Millisecond)
	code, out, errOut = run(t, "flow", "status", "--server", url, id)
	if code != 0 {
		t.Fatalf("flow status: exit %d: %s", code, errOut)
	}
	var st struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Steps  []struct {
			Name   string          `json:"name"`
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ID != id || len(st.Steps) != 2 ||
		st.Status != "completed" || string(st.Steps[1].Result) != "13" {
		t.Fatalf("flow status printed %s (%v)", out, err)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"id", "queue", "status", "steps"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("flow status lacks %q: %s", k, out)
		}
	}

	doc := filepath.Join(t.TempDir(), "long.json")
	_ = os.WriteFile(doc, []byte(`{"steps": {"s": {"func": "sleep", "args": [20000]}, "t": {"func": "add", "args": [1, 2], "after": ["s"], "results": "none"}}}`), 0o644)
	_, out, _ = run(t, "flow", "run", "--server", url, doc)
	id = strings.TrimSpace(out)
	time.Sleep(300 * time.Millisecond)
	if code, out, errOut := run(t, "flow", "cancel", "--server", url, id); code != 0 || strings.TrimSpace(out) != "cancelled "+id {
		t.Fatalf("flow cancel: exit %d %q %s", code, out, errOut)
	}
	if code, _, _ := run(t, "flow", "cancel", "--server", url, id); code != 1 {
		t.Errorf("second flow cancel: exit %d, want 1", code)
	}
	if code, _, errOut := run(t, "flow", "run", "--server", url, "-"); code != 2 {
		t.Errorf("flow run of an empty document: exit %d, want 2 (%s)", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "cycle.json")
	_ = os.WriteFile(bad, []byte(`{"steps": {"a": {"func": "add", "after": ["b"]}, "b": {"func": "add", "after": ["a"]}}}`), 0o644)
	if code, _, errOut := run(t, "flow", "run", "--server", url, bad); code != 2 || !strings.Contains(errOut, "cycle") {
		t.Errorf("flow run of a cycle: exit %d, want 2 naming the cycle: %s", code, errOut)
	}
}
