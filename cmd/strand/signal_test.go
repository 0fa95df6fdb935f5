package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevSecondSignal runs `strand dev` as a process with a long task
// running: the first SIGINT says how long running tasks may take; the
// second stops at once, handing the task back, instead of waiting out the
// 30 s shutdown timeout.
func TestDevSecondSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildStrand(t)
	addr := freeAddr(t)
	url := "nats://" + addr
	p := startReady(t, bin, "dev", "--addr", addr, "--data", filepath.Join(t.TempDir(), "data"))
	dev, devErr, exited := p.cmd, p.stderr, p.exited

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(args ...string) string {
		c := exec.CommandContext(ctx, bin, append([]string{args[0], "--server", url}, args[1:]...)...)
		c.Env = cleanEnv()
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("strand %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("submit", "--id", "long-one", "sleep", "120000")
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(run("status", "long-one"), "running"); {
		if time.Now().After(deadline) {
			t.Fatalf("the task is not running after 20s: %s", run("status", "long-one"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, devErr, "may finish for up to 30s")
	select {
	case err := <-exited:
		t.Fatalf("strand dev exited after one signal with a task running: %v\n%s", err, devErr.String())
	case <-time.After(500 * time.Millisecond):
	}
	t0 := time.Now()
	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("strand dev after a second SIGINT: %v\n%s", err, devErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("strand dev still running 15s after a second SIGINT\n%s", devErr.String())
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("a second SIGINT took %s to stop dev", took)
	}
	if !strings.Contains(devErr.String(), "handing running tasks back") {
		t.Errorf("dev did not say it handed the task back:\n%s", devErr.String())
	}
}

// waitFor waits up to 10 s for b to contain s.
func waitFor(t *testing.T, b *lockedBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in 10s:\n%s", s, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVersion: `strand version` and `strand --version` print the same
// line, naming the Go version it was built with.
func TestVersion(t *testing.T) {
	var out1, out2, errb strings.Builder
	if code := run(context.Background(), []string{"version"}, &out1, &errb); code != exitOK {
		t.Fatalf("strand version: exit %d: %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"--version"}, &out2, &errb); code != exitOK {
		t.Fatalf("strand --version: exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out1.String(), "strand ") || !strings.Contains(out1.String(), "go1.") || out1.String() != out2.String() {
		t.Errorf("strand version printed %q, --version %q", out1.String(), out2.String())
	}
}
