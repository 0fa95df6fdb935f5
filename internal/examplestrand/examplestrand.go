// Package examplestrand gives the testable Examples of one package a
// scratch strand to share. A worker stops gracefully in up to 2 s (its open
// pull request), so an Example that started and closed its own strand
// would cost that much; the Examples of a package register their functions
// (under names of their own) on one strand instead, which the package's
// TestMain closes:
//
//	var shared = examplestrand.New(scratch.Options{})
//
//	func TestMain(m *testing.M) { shared.Main(m) }
//
//	func ExampleX() {
//		env := shared.With(map[string]any{"add": add})
//		h, _ := env.Writer.Submit(ctx, "add", []any{2, 3})
//		…
//	}
package examplestrand

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/scratch"
)

// Strand is a scratch strand started on first use.
type Strand struct {
	opts scratch.Options

	mu  sync.Mutex
	env *scratch.Env
}

// New returns a Strand that starts with opts on first use.
func New(opts scratch.Options) *Strand { return &Strand{opts: opts} }

// With starts the strand if it is not running, registers funcs on its
// worker and returns it. It panics if the strand cannot start or a name
// is taken: an Example's names are its own.
func (s *Strand) With(funcs map[string]any) *scratch.Env {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		env, err := scratch.Start(ctx, s.opts)
		if err != nil {
			panic(fmt.Sprintf("examplestrand: %v", err))
		}
		s.env = env
	}
	names := make([]string, 0, len(funcs))
	for name := range funcs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.env.Registry.Register(name, funcs[name]); err != nil {
			panic(fmt.Sprintf("examplestrand: %v", err))
		}
	}
	return s.env
}

// Close closes the strand if it was started.
func (s *Strand) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env == nil {
		return nil
	}
	err := s.env.Close()
	s.env = nil
	return err
}

// Main runs the package's tests and Examples, closes the strand and exits:
// the body of a TestMain.
func (s *Strand) Main(m *testing.M) {
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "examplestrand: close:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
