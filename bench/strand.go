package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// strandOpts is what one strand cycle tunes; the zero value is strand's
// defaults with a pool of the run's size.
type strandOpts struct {
	prefix    string        // broker.Config.Prefix: the cycle's own streams
	prefetch  int           // reader.Config.Prefetch
	batch     int           // >0: submit with SubmitBatch in chunks of this size
	resultTTL time.Duration // writer.Config.ResultTTL (0: default)
	tenants   int           // >0: each task has meta tenant=t<i % tenants> (keys for a limit)
	limit     int           // >0: reader.Limit{Func: "add", Key: "meta:tenant", Max: limit}
}

// strandCycle is strand through its public API: a writer on one
// connection, a reader on another.
type strandCycle struct {
	opts    strandOpts
	pb, wb  *broker.Broker
	w       *writer.Writer
	stopRun context.CancelFunc
	runErr  chan error
}

// counting is reader middleware that counts every task whose handler
// returned: the worker side's completion.
func counting(t *tally) reader.Middleware {
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			v, err := next(ctx, c)
			t.hit()
			return v, err
		}
	}
}

func addRegistry() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	return reg
}

func strandStart(o strandOpts) func(context.Context, *env, *tally) (cycle, error) {
	return func(ctx context.Context, e *env, t *tally) (cycle, error) {
		s, err := newStrand(ctx, e, o)
		if err != nil {
			return nil, err
		}
		if err := s.startReader(ctx, e, t); err != nil {
			_ = s.close(ctx)
			return nil, err
		}
		return s, nil
	}
}

// newStrand connects the producer side: a broker and a writer.
func newStrand(ctx context.Context, e *env, o strandOpts) (*strandCycle, error) {
	s := &strandCycle{opts: o}
	var err error
	if s.pb, err = broker.Connect(ctx, broker.Config{URL: e.url, Prefix: o.prefix}); err != nil {
		return nil, err
	}
	if s.w, err = writer.New(s.pb, writer.Config{ResultTTL: o.resultTTL}); err != nil {
		_ = s.pb.Close()
		return nil, err
	}
	return s, nil
}

// startReader connects the worker side and runs a reader until close.
func (s *strandCycle) startReader(ctx context.Context, e *env, t *tally) error {
	var err error
	if s.wb, err = broker.Connect(ctx, broker.Config{URL: e.url, Prefix: s.opts.prefix}); err != nil {
		return err
	}
	rd, err := reader.New(s.wb, addRegistry(), reader.Config{
		Queues:      []string{"default"},
		Concurrency: e.cfg.Pool,
		Prefetch:    s.opts.prefetch,
		Middleware:  []reader.Middleware{counting(t)},
		Limits:      s.opts.limits(),
	})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopRun, s.runErr = stop, make(chan error, 1)
	go func() { s.runErr <- rd.Run(runCtx) }()
	return nil
}

// stopReader ends the reader's Run and waits for it.
func (s *strandCycle) stopReader() error {
	if s.stopRun == nil {
		return nil
	}
	s.stopRun()
	err := <-s.runErr
	s.stopRun = nil
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (s *strandCycle) submit(ctx context.Context, n int) error {
	if s.opts.batch > 0 {
		return s.submitBatch(ctx, n, s.opts.batch)
	}
	for i := range n {
		if _, err := s.w.Submit(ctx, "add", []any{1, 2}, s.opts.meta(i)...); err != nil {
			return err
		}
	}
	return nil
}

// limits is the cycle's reader limits.
func (o strandOpts) limits() []reader.Limit {
	if o.limit <= 0 {
		return nil
	}
	return []reader.Limit{{Func: "add", Key: "meta:tenant", Max: o.limit}}
}

// meta is the i-th task's tenant option, if the cycle has tenants.
func (o strandOpts) meta(i int) []strand.Option {
	if o.tenants <= 0 {
		return nil
	}
	return []strand.Option{strand.Meta(map[string]string{"tenant": fmt.Sprintf("t%d", i%o.tenants)})}
}

// submitBatch submits n tasks with SubmitBatch, chunk at a time.
func (s *strandCycle) submitBatch(ctx context.Context, n, chunk int) error {
	calls := make([]writer.Call, 0, chunk)
	for n > 0 {
		k := min(chunk, n)
		calls = calls[:0]
		for range k {
			calls = append(calls, writer.Call{Func: "add", Args: []any{1, 2}})
		}
		if _, errs := s.w.SubmitBatch(ctx, calls); errors.Join(errs...) != nil {
			return errors.Join(errs...)
		}
		n -= k
	}
	return nil
}

func (s *strandCycle) one(ctx context.Context) error {
	h, err := s.w.Submit(ctx, "add", []any{1, 2}, s.opts.meta(0)...)
	if err != nil {
		return err
	}
	var out int
	if err := h.Result(ctx, &out); err != nil {
		return err
	}
	if out != 3 {
		return fmt.Errorf("add(1, 2) = %d", out)
	}
	return nil
}

func (s *strandCycle) close(context.Context) error {
	// The writer's subscription ends with its broker's connection: Close
	// of the brokers is all the public API this bench relies on.
	err := s.stopReader()
	if s.wb != nil {
		err = errors.Join(err, s.wb.Close())
	}
	return errors.Join(err, s.pb.Close())
}
