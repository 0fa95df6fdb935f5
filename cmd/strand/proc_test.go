package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildStrand builds this command into a temporary directory of t and
// returns the binary's path.
func buildStrand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strand")
	if out, err := exec.Command(goTool(t), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a strand process a test started, up to its ready line.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	banner string     // its stdout up to and with the ready line
	exited chan error // its exit, once stdout is drained
}

// startReady starts bin with args (and no STRAND_* variables) and waits up
// to 60 s for readyLine on its stdout; the process is killed at cleanup.
func startReady(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: new(lockedBuffer), exited: make(chan error, 1)}
	p.cmd.Env = cleanEnv()
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		var banner strings.Builder
		sc := bufio.NewScanner(stdout)
		for waiting := true; sc.Scan(); {
			if waiting {
				banner.WriteString(sc.Text() + "\n")
				if sc.Text() == readyLine {
					ready <- banner.String()
					waiting = false
				}
			}
		}
		p.exited <- p.cmd.Wait() // after stdout is drained, as Wait requires
	}()
	select {
	case p.banner = <-ready:
	case err := <-p.exited:
		t.Fatalf("strand %s exited before it was ready: %v\n%s", args[0], err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("strand %s not ready after 60s\n%s", args[0], p.stderr.String())
	}
	return p
}
