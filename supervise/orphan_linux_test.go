package supervise_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A supervised process does not outlive a supervisor that is killed
// (SIGKILL: no Stop runs): the kernel sends it SIGTERM. strand dev's
// worker processes had gone on as orphans, reconnecting to its port.
func TestChildDiesWithItsSupervisor(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	parent := exec.Command(os.Args[0])
	parent.Env = append(os.Environ(), "SUPERVISE_CHILD=parent", "SUPERVISE_ADDR="+freeAddr(t), "SUPERVISE_PIDFILE="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Process.Kill()
	var child int
	for deadline := time.Now().Add(20 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			child, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervisor did not start its child")
		}
	}
	defer syscall.Kill(child, syscall.SIGKILL) // only if the test fails
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs 10s after its supervisor was killed", child)
		}
	}
}

// alive reports whether pid runs (a zombie, dead and not yet reaped, does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
