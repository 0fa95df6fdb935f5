// Package scratch starts a throwaway strand for tests and scripts: an
// embedded NATS server on a free loopback port with its data in a temporary
// directory, a writer, and a worker running the functions you give. Close
// stops the worker, the connection and the server and removes the data:
// the original's temporary_async_compute.
//
//	env, err := scratch.Start(ctx, scratch.Options{Funcs: map[string]any{
//		"add": func(a, b int) int { return a + b },
//	}})
//	if err != nil { … }
//	defer env.Close()
//	h, _ := env.Writer.Submit(ctx, "add", []any{2, 3})
package scratch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// Options says what to run. The zero value starts a server, a writer and a
// worker with no functions.
type Options struct {
	// Funcs are registered on the worker under their names.
	Funcs map[string]any
	// Registry, if set, is used (after Funcs are added to it) instead of a new one.
	Registry *registry.Registry
	// Worker and Writer configure the two sides (their zero values work).
	Worker reader.Config
	Writer writer.Config
	// NoWorker starts no worker: tasks wait until one is started with StartWorker.
	NoWorker bool
	// Server configures the embedded server; Addr and DataDir default to a
	// free loopback port and a new temporary directory.
	Server server.Config
}

// Env is a running scratch strand.
type Env struct {
	// Server is the embedded server: Server.URL() for other clients.
	Server   *server.Server
	Broker   *broker.Broker
	Writer   *writer.Writer
	Registry *registry.Registry

	tmpDir  string
	workers []*worker
}

type worker struct {
	b    *broker.Broker
	stop context.CancelFunc
	done chan error
}

// Start starts a scratch strand. ctx bounds the start only; the env lives
// until Close.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	e := &Env{Registry: opts.Registry}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()
	if e.Registry == nil {
		e.Registry = registry.New()
	}
	names := make([]string, 0, len(opts.Funcs))
	for name := range opts.Funcs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := e.Registry.Register(name, opts.Funcs[name]); err != nil {
			return nil, err
		}
	}
	scfg := opts.Server
	if scfg.Addr == "" {
		scfg.Addr = "127.0.0.1:0"
	}
	if scfg.DataDir == "" {
		if e.tmpDir, err = os.MkdirTemp("", "strand-scratch-"); err != nil {
			return nil, err
		}
		scfg.DataDir = e.tmpDir
	}
	if e.Server, err = server.Start(scfg); err != nil {
		return nil, err
	}
	if e.Broker, err = broker.Connect(ctx, broker.Config{URL: e.Server.URL(), Name: "strand-scratch"}); err != nil {
		return nil, err
	}
	if e.Writer, err = writer.New(e.Broker, opts.Writer); err != nil {
		return nil, err
	}
	if !opts.NoWorker {
		if err := e.StartWorker(ctx, opts.Worker); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// StartWorker starts one more worker, on its own connection, running the
// env's registry; Close stops it.
func (e *Env) StartWorker(ctx context.Context, cfg reader.Config) error {
	b, err := broker.Connect(ctx, broker.Config{URL: e.Server.URL(), Name: "strand-scratch-worker"})
	if err != nil {
		return err
	}
	r, err := reader.New(b, e.Registry, cfg)
	if err != nil {
		_ = b.Close()
		return err
	}
	wctx, stop := context.WithCancel(context.Background())
	w := &worker{b: b, stop: stop, done: make(chan error, 1)}
	go func() { w.done <- r.Run(wctx) }()
	e.workers = append(e.workers, w)
	return nil
}

// Close stops the workers (gracefully), the writer, the connection and the
// server, and removes the data directory it created. It is safe to call
// more than once.
func (e *Env) Close() error {
	var errs []error
	for _, w := range e.workers {
		w.stop()
		select {
		case err := <-w.done:
			errs = append(errs, err)
		case <-time.After(time.Minute):
			errs = append(errs, errors.New("scratch: a worker did not stop within a minute"))
		}
		errs = append(errs, w.b.Close())
	}
	e.workers = nil
	if e.Writer != nil {
		errs = append(errs, e.Writer.Close())
		e.Writer = nil
	}
	if e.Broker != nil {
		errs = append(errs, e.Broker.Close())
		e.Broker = nil
	}
	if e.Server != nil {
		e.Server.Stop()
		e.Server = nil
	}
	if e.tmpDir != "" {
		if err := os.RemoveAll(e.tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("scratch: remove %s: %w", e.tmpDir, err))
		}
		e.tmpDir = ""
	}
	return errors.Join(errs...)
}
