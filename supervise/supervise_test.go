package supervise_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/supervise"
)

// The test binary doubles as the supervised program: with SUPERVISE_CHILD
// set it listens on the given address (after a delay) until SIGTERM, or
// exits at once, or ignores SIGTERM.
func TestMain(m *testing.M) {
	switch os.Getenv("SUPERVISE_CHILD") {
	case "":
		os.Exit(m.Run())
	case "exit":
		os.Exit(3)
	case "parent":
		// A supervisor: it starts a listening child, writes the child's
		// PID to SUPERVISE_PIDFILE, and waits to be killed.
		p, err := supervise.Start(context.Background(), supervise.Spec{
			Path: os.Args[0], Env: []string{"SUPERVISE_CHILD=listen"},
			ReadyAddr: os.Getenv("SUPERVISE_ADDR"), ReadyTimeout: 10 * time.Second,
		})
		if err != nil {
			os.Exit(5)
		}
		if err := os.WriteFile(os.Getenv("SUPERVISE_PIDFILE"), []byte(strconv.Itoa(p.PID())), 0o600); err != nil {
			os.Exit(6)
		}
		select {}
	case "listen", "stubborn":
		if os.Getenv("SUPERVISE_CHILD") == "stubborn" {
			signalIgnoreTerm()
		}
		time.Sleep(200 * time.Millisecond)
		l, err := net.Listen("tcp", os.Getenv("SUPERVISE_ADDR"))
		if err != nil {
			os.Exit(4)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		select {}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func spec(t *testing.T, mode, addr string) supervise.Spec {
	return supervise.Spec{
		Path:         os.Args[0],
		Env:          []string{"SUPERVISE_CHILD=" + mode, "SUPERVISE_ADDR=" + addr},
		ReadyAddr:    addr,
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  2 * time.Second,
	}
}

func TestStartReadyStop(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	p, err := supervise.Start(context.Background(), spec(t, "listen", addr))
	if err != nil {
		t.Fatal(err)
	}
	if p.PID() == 0 {
		t.Fatalf("pid %d: reused", p.PID())
	}
	if err := dial(addr); err != nil {
		t.Fatalf("not listening after Start: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestReuseRunning(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	first, err := supervise.Start(context.Background(), spec(t, "listen", addr))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	s := spec(t, "listen", addr)
	s.Reuse = true
	second, err := supervise.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if second.PID() != 0 {
		t.Fatalf("pid %d, want 0 for a reused process", second.PID())
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr); err != nil {
		t.Fatalf("stopping the reused handle stopped the running process: %v", err)
	}
}

func TestNotReady(t *testing.T) {
	t.Parallel()
	// Exits before it is ready.
	_, err := supervise.Start(context.Background(), spec(t, "exit", freeAddr(t)))
	if !errors.Is(err, supervise.ErrNotReady) || !strings.Contains(err.Error(), "exited first") {
		t.Fatalf("exiting child: %v", err)
	}
	// Never ready within the timeout: stopped, and the error says so.
	s := spec(t, "listen", freeAddr(t))
	s.Ready = func(context.Context) error { return errors.New("never") }
	s.ReadyTimeout = 500 * time.Millisecond
	_, err = supervise.Start(context.Background(), s)
	if !errors.Is(err, supervise.ErrNotReady) {
		t.Fatalf("never ready: %v", err)
	}
	// A command that does not exist.
	_, err = supervise.Start(context.Background(), supervise.Spec{Path: filepath.Join(t.TempDir(), "nope")})
	if err == nil {
		t.Fatalf("missing command: %v", err)
	}
}

func TestStubbornIsKilled(t *testing.T) {
	t.Parallel()
	p, err := supervise.Start(context.Background(), spec(t, "stubborn", freeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Stop()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop of a process ignoring SIGTERM: %v", err)
	}
}

// dial reports whether addr accepts TCP connections.
func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// TestReadyOverridesReadyAddr: a Ready probe is used as it is, and
// ReadyAddr is only the probe of a Spec without one.
func TestReadyOverridesReadyAddr(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	s := spec(t, "listen", addr)
	s.ReadyAddr = "127.0.0.1:1" // nothing listens there
	probed := 0
	s.Ready = func(context.Context) error { probed++; return dial(addr) }
	p, err := supervise.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if probed == 0 {
		t.Fatal("the Ready probe was not used")
	}
}
