// Package strandtest is strand's testing kit, in the shape of River's
// rivertest: helpers a test calls with its testing.TB, each failing the
// test with a readable message rather than returning an error.
//
//   - New gives a test its own strand: an embedded server on a free
//     loopback port, a writer and a worker running the functions it names,
//     all stopped and removed when the test ends. No test shares a server
//     with another.
//   - env.RequireSubmitted and env.RequireNotSubmitted assert that a task
//     of a function, with given args, kwargs, queue or meta, was (or was
//     not) submitted through the env's writers; Match.Within waits for a
//     task that code under test submits in the background.
//   - RunInline runs a handler inline, without a server, with the task
//     context a worker gives it (strand.TaskFrom, strand.Progress, streamed
//     items, the deadline), and returns what it produced.
//   - WaitOutcome waits for a task's outcome or fails the test.
//
// A test of code that submits tasks:
//
//	func TestSignup(t *testing.T) {
//		env := strandtest.New(t, scratch.Options{Funcs: map[string]any{"welcome": sendWelcome}})
//		signup(ctx, env.Writer, "ann@example.com") // the code under test
//		sub := env.RequireSubmitted(t, "welcome", &strandtest.Match{Args: []any{"ann@example.com"}})
//		h, _ := env.Writer.Open(sub.ID)
//		out := strandtest.WaitOutcome(t, h, 10*time.Second)
//		…
//	}
//
// A test of a handler alone:
//
//	res := strandtest.RunInline(t, ctx, resize, strandtest.Inline{Args: []any{"a.png", 640}})
//	var size int
//	res.Decode(t, &size)
package strandtest

import (
	"context"
	"testing"
	"time"

	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// Env is a test's strand (a scratch.Env: Server, Broker, Writer, Registry,
// StartWorker, URL) whose writers record what they submit, for
// RequireSubmitted and RequireNotSubmitted. A writer of your own records
// into it too with env.Middleware() in its writer.Config.
type Env struct {
	*scratch.Env
	rec *recorder
}

// New starts a scratch strand for t (see package scratch) and closes it at
// cleanup; a failure to start or to close fails the test. The env's writer
// records each task the server accepted, after the middleware of
// opts.Writer has run (what the server stores).
func New(t testing.TB, opts scratch.Options) *Env {
	t.Helper()
	rec := &recorder{}
	opts.Writer.Middleware = withRecorder(opts.Writer.Middleware, rec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := scratch.Start(ctx, opts)
	if err != nil {
		t.Fatalf("strandtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("strandtest: close: %v", err)
		}
	})
	return &Env{Env: env, rec: rec}
}

// withRecorder returns mw with rec's middleware innermost, in a new slice.
func withRecorder(mw []writer.Middleware, rec *recorder) []writer.Middleware {
	out := make([]writer.Middleware, 0, len(mw)+1)
	out = append(out, mw...)
	return append(out, rec.middleware())
}
