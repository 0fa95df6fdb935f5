// Package nodetest runs the Node.js producer in this directory, on the
// TypeScript client @strand-run/client (clients/typescript), against a
// real server and worker: the protocol as another language reads it.
package nodetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
)

// TestNodeProducer installs the packages from package-lock.json into a copy
// of this directory, starts a server and a worker with the demo functions,
// and runs the scripts as a user would.
func TestNodeProducer(t *testing.T) {
	t.Parallel()
	need(t, "node", "npm")
	dir := install(t)
	srv := startWorker(t)

	for _, tc := range []struct {
		name       string
		script     []string
		wantOut    string
		wantErr    string // in stderr, and a non-zero exit
		wantStatus string // of task id "<name>-task", after the script
	}{
		{name: "msgpack", script: []string{"submit.mjs", "--id", "msgpack-task"}, wantOut: "5", wantStatus: "completed"},
		{name: "json", script: []string{"submit.mjs", "--json", "--id", "json-task", "add", "2", "3"}, wantOut: "5", wantStatus: "completed"},
		{name: "json-nested", script: []string{"submit.mjs", "--json", "echo", `{"a":[1,"x",null]}`}, wantOut: `{"a":[1,"x",null]}`},
		{name: "kwargs", script: []string{"submit.mjs", "--kwargs", `{"scale":10}`, "scaled_add", "2", "3"}, wantOut: "50"},
		{name: "json-kwargs", script: []string{"submit.mjs", "--json", "--kwargs", `{"scale":3}`, "scaled_add", "1", "1"}, wantOut: "6"},
		{name: "msgpack-nested", script: []string{"submit.mjs", "echo", `{"a":[1,"x",null]}`}, wantOut: `{"a":[1,"x",null]}`},
		{name: "unknown-func", script: []string{"submit.mjs", "--id", "unknown-func-task", "nosuch", "1"},
			wantErr: "nosuch: unknown function", wantStatus: "failed"},
		{name: "handler-error", script: []string{"submit.mjs", "--json", "fail", "boom"}, wantErr: "fail: boom"},
		{name: "status-unknown", script: []string{"status.mjs", "never-submitted"}, wantOut: "unknown"},
		{name: "status-unknown-queue", script: []string{"status.mjs", "never-submitted", "default"}, wantOut: "unknown"},
		{name: "queued", script: []string{"submit.mjs", "--queue", "later", "--no-wait", "--id", "queued-task", "add", "1", "2"},
			wantOut: "queued-task", wantStatus: "pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, err := runNode(t, dir, srv, tc.script...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(errOut, tc.wantErr) {
					t.Fatalf("node %v: err %v, stderr %q; want a failure with %q", tc.script, err, errOut, tc.wantErr)
				}
			} else if err != nil || out != tc.wantOut {
				t.Fatalf("node %v: stdout %q, err %v, stderr %q; want %q", tc.script, out, err, errOut, tc.wantOut)
			}
			if tc.wantStatus != "" {
				out, errOut, err := runNode(t, dir, srv, "status.mjs", tc.name+"-task")
				if err != nil || out != tc.wantStatus {
					t.Fatalf("status: %q, err %v, stderr %q; want %q", out, err, errOut, tc.wantStatus)
				}
			}
		})
	}
}

// TestNodeDuplicate submits the same id twice: the second is refused, by
// the client's outcome read once the task has run, by the server
// (err_code 10077) while it is queued.
func TestNodeDuplicate(t *testing.T) {
	t.Parallel()
	need(t, "node", "npm")
	dir := install(t)
	srv := startWorker(t)
	if out, errOut, err := runNode(t, dir, srv, "submit.mjs", "--id", "dup", "add", "1", "1"); err != nil || out != "2" {
		t.Fatalf("first submit: %q, %v, %q", out, err, errOut)
	}
	if _, errOut, err := runNode(t, dir, srv, "submit.mjs", "--id", "dup", "add", "1", "1"); err == nil ||
		!strings.Contains(errOut, "duplicate task id dup") {
		t.Fatalf("second submit: err %v, stderr %q; want a duplicate", err, errOut)
	}
	queued := []string{"submit.mjs", "--queue", "later", "--no-wait", "--id", "queued-dup", "add", "1", "1"}
	if out, errOut, err := runNode(t, dir, srv, queued...); err != nil || out != "queued-dup" {
		t.Fatalf("first queued submit: %q, %v, %q", out, err, errOut)
	}
	if _, errOut, err := runNode(t, dir, srv, queued...); err == nil || !strings.Contains(errOut, "duplicate task id queued-dup") {
		t.Fatalf("second queued submit: err %v, stderr %q; want a duplicate", err, errOut)
	}
}

// TestNodeCancel cancels a queued task (no worker on its queue): it reads
// cancelled, a second cancel is refused, and so is a cancel of an unknown id.
func TestNodeCancel(t *testing.T) {
	t.Parallel()
	need(t, "node", "npm")
	dir := install(t)
	srv := startWorker(t)
	if out, errOut, err := runNode(t, dir, srv, "submit.mjs", "--queue", "later", "--no-wait", "--id", "c1", "add", "1", "1"); err != nil || out != "c1" {
		t.Fatalf("submit: %q, %v, %q", out, err, errOut)
	}
	for _, step := range []struct {
		script  []string
		wantOut string
		wantErr string
	}{
		{script: []string{"status.mjs", "c1"}, wantOut: "pending"},
		{script: []string{"cancel.mjs", "c1"}, wantOut: "cancelled"},
		{script: []string{"status.mjs", "c1"}, wantOut: "cancelled"},
		{script: []string{"status.mjs", "c1", "later"}, wantOut: "cancelled"},
		{script: []string{"cancel.mjs", "c1", "later"}, wantErr: "task c1 has finished (cancelled)"},
		{script: []string{"cancel.mjs", "never-submitted"}, wantErr: "task never-submitted not found"},
	} {
		out, errOut, err := runNode(t, dir, srv, step.script...)
		if step.wantErr != "" {
			if err == nil || !strings.Contains(errOut, step.wantErr) {
				t.Fatalf("node %v: err %v, stderr %q; want %q", step.script, err, errOut, step.wantErr)
			}
		} else if err != nil || out != step.wantOut {
			t.Fatalf("node %v: %q, err %v, stderr %q; want %q", step.script, out, err, errOut, step.wantOut)
		}
	}
}

// TestNodeExpired: once a task's outcome has expired (result_ttl_ms 1000)
// it reads unknown, and a cancel of it is refused.
func TestNodeExpired(t *testing.T) {
	t.Parallel()
	need(t, "node", "npm")
	dir := install(t)
	srv := startWorker(t)
	if out, errOut, err := runNode(t, dir, srv, "submit.mjs", "--result-ttl-ms", "1000", "--id", "exp", "add", "1", "2"); err != nil || out != "3" {
		t.Fatalf("submit: %q, %v, %q", out, err, errOut)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, errOut, err := runNode(t, dir, srv, "status.mjs", "exp", "default")
		if err != nil {
			t.Fatalf("status: %v, %q", err, errOut)
		}
		if out == "unknown" {
			break
		}
		if out != "completed" || time.Now().After(deadline) {
			t.Fatalf("status %q, want completed until it expires, then unknown", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, errOut, err := runNode(t, dir, srv, "cancel.mjs", "exp", "default"); err == nil || !strings.Contains(errOut, "not found") {
		t.Fatalf("cancel after expiry: err %v, stderr %q; want not found", err, errOut)
	}
}

// need skips the test when a command is missing, except in CI (CI set),
// where the missing command fails it: CI installs them (.ci/run).
func need(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing in CI: %v", c, err)
			}
			t.Skipf("%s is not installed: %v", c, err)
		}
	}
}

// install copies the example into a temp dir, with the client package
// (clients/typescript: its package.json and built dist/) at the same
// relative place, and runs npm ci there, so that concurrent runs never
// share a node_modules (npm's cache, ~/.npm, makes repeated installs fast).
func install(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "examples", "node")
	copyFiles(t, ".", dir, "package.json", "package-lock.json", ".npmrc", "submit.mjs", "status.mjs", "cancel.mjs")
	pkg := filepath.Join("..", "..", "clients", "typescript")
	copyFiles(t, pkg, filepath.Join(root, "clients", "typescript"), "package.json", "README.md")
	dist, err := os.ReadDir(filepath.Join(pkg, "dist"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range dist {
		names = append(names, e.Name())
	}
	copyFiles(t, filepath.Join(pkg, "dist"), filepath.Join(root, "clients", "typescript", "dist"), names...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return dir
}

// copyFiles copies the files named from directory from to directory to.
func copyFiles(t *testing.T, from, to string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startWorker starts a server and a worker with the demo functions on queue
// default, and returns once the queue's consumer (and so the bucket) exists.
func startWorker(t *testing.T) *server.Server {
	t.Helper()
	srv := brokertest.Start(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(brokertest.Connect(t, srv, broker.Config{}), reg, reader.Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	b := brokertest.Connect(t, srv, broker.Config{})
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	names := ib.NewNames("")
	for {
		if _, err := js.Consumer(wctx, names.TasksStream(), names.Consumer("default")); err == nil {
			return srv
		} else if wctx.Err() != nil {
			t.Fatalf("the worker's consumer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runNode runs node with args in dir against srv, and returns its trimmed
// stdout and stderr.
func runNode(t *testing.T, dir string, srv *server.Server, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STRAND_SERVER="+srv.URL(), "STRAND_PREFIX=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node %v: still running after 2 minutes; stderr %q", args, errOut.String())
	}
	return strings.TrimSpace(out.String()), strings.TrimSpace(errOut.String()), err
}
