package main

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
)

// heartbeatWorld is a world whose worker, "cli-1", beats every 100ms; stop
// stops the worker and waits for it.
func heartbeatWorld(t *testing.T) (w *world, stop func()) {
	t.Helper()
	srv := brokertest.Start(t)
	b := brokertest.Connect(t, srv, broker.Config{})
	reg, err := demoRegistry()
	if err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{WorkerID: "cli-1", Concurrency: 4, HeartbeatEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("worker did not stop within a minute")
		}
	}
	t.Cleanup(stop)
	return &world{t: t, url: srv.URL()}, stop
}

// workersJSON runs `strand workers --json`.
func (w *world) workersJSON() []codec.Worker {
	w.t.Helper()
	r := w.strand("workers", "--json")
	var ws []codec.Worker
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ws) != nil {
		w.t.Fatalf("workers --json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return ws
}

// waitInFlight waits until the only worker listed has n tasks in flight.
func (w *world) waitInFlight(n int, within time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ws := w.workersJSON()
		if len(ws) == 1 && ws[0].InFlight == n {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no worker with %d in flight within %v: %+v", n, within, ws)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWorkersCommand(t *testing.T) {
	t.Parallel()
	w, stop := heartbeatWorld(t)
	host, _ := os.Hostname()

	w.waitInFlight(0, 10*time.Second) // the worker's first beat
	ws := w.workersJSON()
	if len(ws) != 1 || ws[0].ID != "cli-1" || ws[0].Host != host || ws[0].PID != os.Getpid() ||
		ws[0].Concurrency != 4 || strings.Join(ws[0].Queues, ",") != "default" ||
		strings.Join(ws[0].Functions, ",") != "add,count,echo,fail,scaled_add,sleep,sum,work" {
		t.Fatalf("workers --json: %+v", ws)
	}

	// A running task shows in flight; cancelling it frees the slot.
	id := w.ok("submit", "sleep", "60000")
	w.waitInFlight(1, 10*time.Second)
	out := w.strand("workers")
	lines := strings.Split(strings.TrimRight(out.stdout, "\n"), "\n")
	if out.code != 0 || len(lines) != 2 {
		t.Fatalf("workers: exit %d, stdout %q, stderr %q", out.code, out.stdout, out.stderr)
	}
	header := regexp.MustCompile(`^ID +HOST +PID +QUEUES +FUNCTIONS +IN-FLIGHT +CONCURRENCY +LAST BEAT$`)
	row := regexp.MustCompile(`^cli-1 +` + regexp.QuoteMeta(host) + ` +\d+ +default +add,count,echo,fail,scaled_add,sleep,sum,work +1 +4 +[0-9.]+m?s ago$`)
	if !header.MatchString(lines[0]) || !row.MatchString(lines[1]) {
		t.Fatalf("workers printed:\n%s", out.stdout)
	}

	start := time.Now()
	if got := w.ok("cancel", id); got != "cancelled "+id {
		t.Fatalf("cancel of a running task printed %q", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	w.waitInFlight(0, 5*time.Second)
	if st := w.strand("status", id); !strings.Contains(st.stdout, "cancelled") {
		t.Fatalf("status after cancel: %q", st.stdout)
	}

	stop()
	if ws := w.workersJSON(); len(ws) != 0 {
		t.Fatalf("a stopped worker is listed: %+v", ws)
	}
	out = w.strand("workers")
	if out.code != 0 || strings.Count(out.stdout, "\n") != 1 {
		t.Fatalf("workers with none: exit %d, stdout %q", out.code, out.stdout)
	}
}
