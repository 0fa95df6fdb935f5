package runner_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

// addArgs are addTask's arguments, its kwargs on the wire.
type addArgs struct {
	A int `msgpack:"a"`
	B int `msgpack:"b"`
}

// addTask is a typed task: the worker side registers it, callers call it.
var addTask = strand.NewFunc("typed_add", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })

type greetKw struct {
	Greeting string `msgpack:"greeting"`
}

// functions is what every runner in these tests runs, the test binary's
// child processes included. exit, gopanic and killself end their process:
// only the process runner may call them.
func functions() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("fail", func(msg string) error { return errors.New(msg) })
	reg.MustRegister("boom", func() int { panic("kaboom") })
	reg.MustRegister("upper", strings.ToUpper)
	reg.MustRegister("greet", func(name string, kw greetKw) string { return kw.Greeting + ", " + name })
	reg.MustRegister("sleep", func(ctx context.Context, ms int) error {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	reg.MustRegister("deaf", func(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) })
	reg.MustRegister("task", func(ctx context.Context) strand.Task { t, _ := strand.TaskFrom(ctx); return t })
	reg.MustRegister("meta", func(ctx context.Context, k string) string { t, _ := strand.TaskFrom(ctx); return t.Meta[k] })
	reg.MustRegister("exit", func(code int) {
		os.Stderr.WriteString("leaving now\n")
		os.Exit(code)
	})
	reg.MustRegister("gopanic", func() int {
		go func() { panic("in a goroutine") }()
		time.Sleep(time.Minute)
		return 0
	})
	reg.MustRegister("killself", func() int {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
		return 0
	})
	reg.MustRegister("pid", func() int { return os.Getpid() })
	reg.MustRegister("steps", func(ctx context.Context, n int) int {
		for i := 1; i <= n; i++ {
			strand.Progress(ctx, int64(i), int64(n), "step")
		}
		return n
	})
	reg.MustRegister("count", func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := range n {
				if !yield(i) {
					return
				}
			}
		}
	})
	reg.MustRegister("countfail", func(n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := range n {
				if !yield(i, nil) {
					return
				}
			}
			yield(0, errors.New("bad"))
		}
	})
	if err := addTask.Register(reg); err != nil {
		panic(err)
	}
	return reg
}

// TestMain makes the test binary its own task child: the process runner
// re-executes it with STRAND_CHILD=1. Under -race a child would sleep 1s
// at exit (the race runtime's atexit_sleep_ms) for each call; its children
// are told not to.
func TestMain(m *testing.M) {
	runner.ServeChild(functions())
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m, // no call's goroutine outlives its runner's Close
		// The embedded server and nats.go keep a few process-wide goroutines.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*client).readLoop"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.timerWheel"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}
