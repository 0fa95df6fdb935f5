package main

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devProcess builds the binary and runs `strand dev` as a process; it
// returns the binary and the server's URL.
func devProcess(t *testing.T) (bin, url string) {
	t.Helper()
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "strand")
	if out, err := exec.Command(goTool(t), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	dev := exec.Command(bin, "dev", "--addr", addr, "--data", filepath.Join(tmp, "data"), "--workers", "1")
	dev.Env = cleanEnv()
	devErr := new(lockedBuffer)
	dev.Stderr = devErr
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	ready, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for waiting := true; sc.Scan(); {
			if waiting && sc.Text() == readyLine {
				close(ready)
				waiting = false
			}
		}
		_ = dev.Wait()
	}()
	t.Cleanup(func() {
		// A stop as a user's Ctrl-C: dev stops its worker processes too.
		_ = dev.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = dev.Process.Kill()
			<-exited
		}
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("strand dev not ready after 60s\n%s", devErr.String())
	}
	return bin, "nats://" + addr
}

// The issue's check: with `strand dev` running, `strand queue pause
// default`, then `strand submit add 1 2` stays pending; `strand queue
// resume default` and it completes.
func TestQueuePauseResumeDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin, url := devProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--server", url}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("strand %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := run("queue", "pause", "default"); out != "paused default" {
		t.Fatalf("queue pause printed %q", out)
	}
	if out := run("queue", "paused", "default"); !strings.HasPrefix(out, "default paused since") {
		t.Fatalf("queue paused printed %q", out)
	}
	lines := strings.Split(run("submit", "add", "1", "2"), "\n")
	id := strings.Fields(lines[len(lines)-1])[0]
	time.Sleep(time.Second)
	status := run("status", id)
	if !strings.Contains(status, "pending") || !strings.Contains(status, "queue is paused") {
		t.Fatalf("status of a task in a paused queue:\n%s", status)
	}
	if out := run("queue", "resume", "default"); out != "resumed default" {
		t.Fatalf("queue resume printed %q", out)
	}
	if out := run("result", "--wait", id); out != "3" {
		t.Fatalf("result after resume: %q", out)
	}
	if out := run("queue", "paused", "default"); out != "default running" {
		t.Fatalf("queue paused after resume printed %q", out)
	}

	// A key unique until finished: the second submit prints the first's id.
	last := func(out string) string { lines := strings.Split(out, "\n"); return lines[len(lines)-1] }
	first := last(run("submit", "--key", "report-7", "--unique-for", "finished", "sleep", "3000"))
	if again := last(run("submit", "--key", "report-7", "--unique-for", "finished", "sleep", "3000")); again != first {
		t.Fatalf("a second submit with a held key printed %q, want the first's id %q", again, first)
	}
	// A high task, and its status.
	high := last(run("submit", "--priority", "high", "add", "2", "2"))
	if out := run("result", "--wait", high); out != "4" {
		t.Fatalf("a high task's result: %q", out)
	}
}
