//go:build unix

// Package clients runs the test suites of strand's client libraries in
// other languages from `go test ./...`, so that the project's one test
// command covers them: this file the Python suite (clients/python), a
// sibling file per other language. Outside CI a missing tool skips its
// suite; with CI set it fails.
package clients

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// suiteTimeout bounds one language's whole suite.
const suiteTimeout = 15 * time.Minute

// needTool skips the test when ok is false, or fails it in CI (CI set):
// there, a suite that cannot run is a failure, not a pass.
func needTool(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: %s is missing", what)
	}
	t.Skipf("%s is missing", what)
}

var (
	strandOnce sync.Once
	strandDir  string
	strandBin  string
	strandErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if strandDir != "" {
		os.RemoveAll(strandDir)
	}
	os.Exit(code)
}

// strandBinary builds cmd/strand once for the suites of this package (they
// start `strand dev` from it) and returns its path.
func strandBinary(t *testing.T) string {
	t.Helper()
	strandOnce.Do(func() {
		var err error
		if strandDir, err = os.MkdirTemp("", "strand-clients-"); err != nil {
			strandErr = err
			return
		}
		strandBin = filepath.Join(strandDir, "strand")
		out, err := exec.Command("go", "build", "-o", strandBin, "../cmd/strand").CombinedOutput()
		if err != nil {
			strandErr = errors.New("go build ./cmd/strand: " + err.Error() + "\n" + string(out))
		}
	})
	if strandErr != nil {
		t.Fatal(strandErr)
	}
	return strandBin
}

// runSuite runs a suite's command in dir (relative to the repository) in a
// process group of its own, so that a timeout kills the servers it started
// too, and fails the test with its output if it fails.
func runSuite(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join("..", dir)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v:\n%s", name, strings.Join(args, " "), suiteTimeout, out.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), lastLines(out.String(), 5))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// python is a python3 that imports every module of mods, or "".
func python(mods ...string) string {
	for _, py := range []string{"python3", "python"} {
		if exec.Command(py, "-c", "import "+strings.Join(mods, ", ")).Run() == nil {
			return py
		}
	}
	return ""
}

// TestPython runs clients/python's pytest suite: the shared vectors, and
// the client against a real `strand dev` it starts itself. It needs a
// python3 with pytest, nats-py and msgpack (`pip install ./clients/python[test]`).
func TestPython(t *testing.T) {
	t.Parallel()
	py := python("pytest", "nats", "msgpack")
	needTool(t, py != "", "python3 with pytest, nats-py and msgpack (pip install ./clients/python[test])")
	bin := strandBinary(t)
	runSuite(t, "clients/python", []string{"STRAND_BIN=" + bin, "PYTHONDONTWRITEBYTECODE=1"},
		py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
}

// TestPythonTypes checks that clients/python type-checks: mypy --strict on
// the package (its configuration is in pyproject.toml).
func TestPythonTypes(t *testing.T) {
	t.Parallel()
	py := python("mypy", "nats", "msgpack")
	needTool(t, py != "", "python3 with mypy, nats-py and msgpack (pip install ./clients/python[test])")
	runSuite(t, "clients/python", []string{"MYPY_CACHE_DIR=" + t.TempDir()}, py, "-m", "mypy")
}
