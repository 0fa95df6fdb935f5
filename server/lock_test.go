package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/server"
)

// TestDataDirInUseInProcess: a second server on a data directory in use is
// refused at once, and the directory is free again once the first stops.
func TestDataDirInUseInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, server.Config{DataDir: dir})

	_, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if !errors.Is(err, server.ErrDataDirInUse) {
		t.Fatalf("second server on %s: got %v, want ErrDataDirInUse", dir, err)
	}
	want := fmt.Sprintf("data directory %s is in use by another server (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	first.Stop()
	start(t, server.Config{DataDir: dir})
}

// holdDataDirEnv makes the test binary, re-executed by
// TestDataDirInUseAcrossProcesses, hold a server on the directory it names.
const holdDataDirEnv = "STRAND_TEST_HOLD_DATA_DIR"

// TestHoldDataDir is not a test: it is the other process of
// TestDataDirInUseAcrossProcesses. It starts a server on $STRAND_TEST_HOLD_DATA_DIR,
// prints "ready" and runs until it is killed.
func TestHoldDataDir(t *testing.T) {
	dir := os.Getenv(holdDataDirEnv)
	if dir == "" {
		t.Skip("run by TestDataDirInUseAcrossProcesses")
	}
	if _, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

// TestDataDirInUseAcrossProcesses: a server in another process holds the
// directory, so this one is refused with that process's pid; once it is
// killed (SIGKILL, no cleanup, its lock file left behind) the directory is
// free.
func TestDataDirInUseAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a second process")
	}
	t.Parallel()
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldDataDir$", "-test.v")
	holder.Env = append(os.Environ(), holdDataDirEnv+"="+dir)
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); l == "ready" || strings.HasPrefix(l, "error:") {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		if l != "ready" {
			t.Fatalf("holder process: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("holder process not ready after 30s")
	}

	_, err = server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	want := fmt.Sprintf("data directory %s is in use by another server (pid %d)", dir, holder.Process.Pid)
	if !errors.Is(err, server.ErrDataDirInUse) || err.Error() != want {
		t.Fatalf("server beside pid %d: got %v, want %q", holder.Process.Pid, err, want)
	}

	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	if b, err := os.ReadFile(filepath.Join(dir, "strand.lock")); err != nil || strings.TrimSpace(string(b)) == "" {
		t.Fatalf("lock file after SIGKILL: %q, %v; want the dead holder's pid left behind", b, err)
	}
	start(t, server.Config{DataDir: dir})
}
