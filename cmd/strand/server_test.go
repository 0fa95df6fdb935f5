package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerDataDirInUse builds the binary and runs `strand server` twice on
// one data directory: the second exits at once, non-zero, naming the first's
// pid; the first keeps running until SIGTERM.
func TestServerDataDirInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildStrand(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startReady(t, bin, "server", "--addr", "127.0.0.1:0", "--data", data)
	first, firstErr, exited := p.cmd, p.stderr, p.exited

	second := exec.Command(bin, "server", "--addr", "127.0.0.1:0", "--data", data)
	second.Env = cleanEnv()
	start := time.Now()
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("second strand server on %s: %v, want a non-zero exit\n%s", data, err, out)
	}
	want := fmt.Sprintf("data directory %s is in use by another server (pid %d)", data, first.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("second strand server said:\n%s\nwant it to say %q", out, want)
	}
	t.Logf("second server refused after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))

	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("first strand server after SIGTERM: %v\n%s", err, firstErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("first strand server still running 30s after SIGTERM\n%s", firstErr.String())
	}
}
