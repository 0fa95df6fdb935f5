// Command strand is strand's single binary: a development server with a
// worker in one process, an embedded NATS server, a worker running the demo
// functions, and the client commands that submit tasks, read their status
// and results, and cancel them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

func main() {
	// A worker's process queues (STRAND_PROCESS_QUEUES) run each task in a
	// child of this binary: here it runs one and exits.
	if reg := registry.New(); demo.Register(reg) == nil {
		runner.ServeChild(reg)
	}
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes, stated in every command's help.
const (
	exitOK       = 0 // the command did what it was asked
	exitFailed   = 1 // the task failed, was cancelled, or the request was refused
	exitUsage    = 2 // bad flags or arguments
	exitNotReady = 3 // the task has no result yet
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  the task failed or was cancelled, or the request was refused (or another error)
  2  usage: bad flags or arguments
  3  not ready: the task has no result yet`

// exitError ends a command with an exit code. A nil err means the command
// has already said what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an exit-2 error: the command line is wrong.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// exitWith ends a command with code without printing more.
func exitWith(code int) error { return &exitError{code: code} }

// run executes the command line args and returns the process's exit code.
// main calls it; tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case !a.started:
		// Cobra refused the command line before any command ran.
		code = exitUsage
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// untilSignals is untilSignal for commands that run a worker: the returned
// context ends on the first SIGINT or SIGTERM, and the channel is closed on
// the second (the worker then hands its running tasks back at once); after
// the second the default handling is restored, so a third kills the
// process.
func untilSignals(ctx context.Context) (context.Context, <-chan struct{}, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	again := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer signal.Stop(sig)
		select {
		case <-sig:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sig:
			close(again)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, again, func() { once.Do(func() { close(done); cancel() }) }
}

// untilSignal returns a context that ends on SIGINT or SIGTERM. After the
// first signal the default handling is restored, so a second one kills the
// process at once.
func untilSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}
