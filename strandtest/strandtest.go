// Package strandtest gives a test its own strand: an embedded server, a
// writer and a worker with the functions it names, all removed when the
// test ends. No test shares a server with another.
//
//	func TestAdd(t *testing.T) {
//		env := strandtest.New(t, scratch.Options{Funcs: map[string]any{"add": add}})
//		h, _ := env.Writer.Submit(ctx, "add", 2, 3)
//		…
//	}
package strandtest

import (
	"context"
	"testing"
	"time"

	"github.com/strand-run/strand/scratch"
)

// New starts a scratch strand for t (see package scratch) and closes it at
// cleanup; a failure to start or to close fails the test.
func New(t testing.TB, opts scratch.Options) *scratch.Env {
	t.Helper()
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
	return env
}
