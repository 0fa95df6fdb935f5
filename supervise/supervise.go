// Package supervise runs a helper process for as long as it is needed: it
// starts the process, waits until a readiness probe passes (or gives up
// after a timeout), can reuse an instance that is already running, and
// stops it cleanly (SIGTERM, then SIGKILL after a grace period). It is the
// original's run_process, used to run NATS servers and workers beside tests
// and scripts.
//
//	p, err := supervise.Start(ctx, supervise.Spec{
//		Path:      "strand",
//		Args:      []string{"server", "--addr", "127.0.0.1:4222"},
//		ReadyAddr: "127.0.0.1:4222", // ready once it accepts connections
//		Reuse:     true,             // a server already answering there is used as it is
//	})
//	if err != nil { … }
//	defer p.Stop()
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"syscall"
	"time"
)

// Spec describes the process to run.
type Spec struct {
	// Path and Args are the command; Env (KEY=value) is added to the
	// current environment, unless Environ is set: then Environ is the
	// whole environment. Dir is the working directory.
	Path    string
	Args    []string
	Env     []string
	Environ []string
	Dir     string
	// Stdout and Stderr receive the process's output (default: discarded).
	Stdout, Stderr io.Writer

	// Ready reports nil once the process can be used. Nil means ready as
	// soon as it has started, unless ReadyAddr is set.
	Ready func(ctx context.Context) error
	// ReadyAddr, when Ready is nil, is the usual probe: the process is
	// ready once ReadyAddr (host:port) accepts TCP connections.
	ReadyAddr string
	// ReadyTimeout bounds the wait for Ready (default 30s); ProbeEvery is
	// the pause between probes (default 50ms).
	ReadyTimeout time.Duration
	ProbeEvery   time.Duration
	// Reuse: if Ready already passes before anything is started, start
	// nothing and use what is running (Stop then leaves it alone).
	Reuse bool
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 10s).
	StopTimeout time.Duration
}

// ErrNotReady is returned when the process did not become ready in time or
// exited before it was.
var ErrNotReady = errors.New("supervise: process not ready")

// Process is a supervised process (or a reused one).
type Process struct {
	spec   Spec
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // the exit error, set before done is closed
	reused bool
}

// Start runs spec and returns once the process is ready. If it does not
// become ready in time, or exits first, Start stops it and returns an
// error wrapping ErrNotReady.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.ReadyTimeout <= 0 {
		spec.ReadyTimeout = 30 * time.Second
	}
	if spec.ProbeEvery <= 0 {
		spec.ProbeEvery = 50 * time.Millisecond
	}
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = 10 * time.Second
	}
	if spec.Ready == nil && spec.ReadyAddr != "" {
		spec.Ready = tcpReady(spec.ReadyAddr)
	}
	p := &Process{spec: spec, done: make(chan struct{})}
	if spec.Reuse && spec.Ready != nil && spec.Ready(ctx) == nil {
		p.reused = true
		close(p.done)
		return p, nil
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	cmd.SysProcAttr = sysProcAttr()
	switch {
	case spec.Environ != nil:
		cmd.Env = append(spec.Environ, spec.Env...)
	case len(spec.Env) > 0:
		cmd.Env = append(cmd.Environ(), spec.Env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("supervise: start %s: %w", spec.Path, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context) error {
	if p.spec.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.spec.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(p.spec.ProbeEvery)
	defer tick.Stop()
	var last error
	for {
		if last = p.spec.Ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s exited first (%v); last probe: %v", ErrNotReady, p.spec.Path, p.err, last)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s after %v: %v", ErrNotReady, p.spec.Path, p.spec.ReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// PID is the process id; 0 for a reused process (Spec.Reuse: Start found
// it running, and Stop leaves it alone).
func (p *Process) PID() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Done is closed when the process has exited (at once for a reused one).
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop ends the process: SIGTERM, then SIGKILL after StopTimeout. It
// returns nil when the process exited by itself with status 0 or because of
// the signal; a reused process is left running.
func (p *Process) Stop() error {
	if p.reused || p.cmd == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.exitErr(false)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(p.spec.StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("supervise: %s ignored SIGTERM for %v; killed", p.spec.Path, p.spec.StopTimeout)
	}
	return p.exitErr(true)
}

func (p *Process) exitErr(signalled bool) error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && signalled {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return p.err
}

// tcpReady is a probe that passes once addr accepts TCP connections.
func tcpReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}
