//go:build unix

package clients

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTypeScript runs the TypeScript client's suite (clients/typescript:
// `npm test`, node's test runner against a real `strand dev`, the shared
// vectors, the declarations' types) and fails if it fails. It needs node
// and the package's node_modules (`npm ci` in clients/typescript; .ci/run
// does it): outside CI a missing one skips the test, in CI (CI set) it
// fails it.
func TestTypeScript(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("typescript")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			tsNeed(t, "%s: %v", tool, err)
		}
	}
	for _, dep := range []string{"typescript", "@nats-io/jetstream", "@nats-io/kv", "@nats-io/transport-node", "@msgpack/msgpack"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", dep, "package.json")); err != nil {
			tsNeed(t, "%s is not installed (run npm ci in clients/typescript): %v", dep, err)
		}
	}

	bin := filepath.Join(t.TempDir(), "strand")
	build := exec.Command("go", "build", "-o", bin, "../cmd/strand")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/strand: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STRAND_BIN="+bin)
	// npm, node and the strand dev processes of the suite share a process
	// group, which goes down with the test: nothing is left running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("npm test: still running after 15 minutes\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("npm test in clients/typescript: %v\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Logf("npm test:\n%s", out.String())
	}
}

// tsNeed skips the test for want of a tool, or fails it in CI (CI set),
// where a suite that cannot run is a failure, not a pass.
func tsNeed(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
