package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDevProcess builds the binary, runs `strand dev` as a process, submits
// to it with a second process, and stops it with SIGTERM.
func TestDevProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildStrand(t)
	addr := freeAddr(t)
	url := "nats://" + addr
	p := startReady(t, bin, "dev", "--addr", addr, "--data", filepath.Join(t.TempDir(), "data"), "--workers", "1")
	dev, devErr, exited := p.cmd, p.stderr, p.exited
	if b := p.banner; !strings.Contains(b, url) || !strings.Contains(b, "--server "+url+" --wait add 2 3") {
		t.Errorf("dev's banner lacks where it listens or how to submit:\n%s", b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	submit := exec.CommandContext(ctx, bin, "submit", "--server", url, "--wait", "add", "2", "3")
	submit.Env = cleanEnv()
	var submitErr bytes.Buffer
	submit.Stderr = &submitErr
	out, err := submit.Output()
	if err != nil {
		t.Fatalf("strand submit: %v\n%s", err, submitErr.String())
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != "5" {
		t.Fatalf("strand submit --wait add 2 3 printed %q", out)
	}

	// The supervised worker process serves too, and stops with dev.
	workers := exec.CommandContext(ctx, bin, "workers", "--server", url)
	workers.Env = cleanEnv()
	if out, err := workers.Output(); err != nil || !strings.Contains(string(out), "dev-worker-1") {
		t.Fatalf("strand workers: %v\n%s", err, out)
	}

	if err := dev.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("strand dev after SIGTERM: %v\n%s", err, devErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("strand dev still running 30s after SIGTERM\n%s", devErr.String())
	}
}

// goTool finds the go command that runs this test.
func goTool(t *testing.T) string {
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command in PATH: %v", err)
	}
	return p
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cleanEnv is the environment without STRAND_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRAND_") {
			env = append(env, kv)
		}
	}
	return env
}

// lockedBuffer is a bytes.Buffer that a process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
