package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// strandPrefix keeps the bench's bucket apart from a deployment's own.
const strandPrefix = "strandbench"

// strandCycle is the real thing: writer.Submit (or writer.SubmitBatch), a
// reader with a pool of Concurrency, and Handle.Result for every task.
type strandCycle struct {
	w        *world
	pb, wb   *broker.Broker
	wr       *writer.Writer
	stopRun  context.CancelFunc
	runDone  chan error
	results  sync.WaitGroup
	countEvt bool // count outcome events instead of calling Result (analysis only)
	wt       *waiters
	sub      *nats.Subscription
}

// subscribeEvents counts outcome events on one subscription, as floor and
// naive do, so that the burst's results need no Handle.
func (s *strandCycle) subscribeEvents() error {
	s.wt = newWaiters()
	names := s.pb.Names()
	sub, err := s.pb.Conn().Subscribe(names.Events(broker.KindOutcome, "bench"), func(m *nats.Msg) {
		if len(m.Data) == 0 {
			return
		}
		if _, _, id, ok := names.ParseKey(m.Subject); ok {
			s.wt.seen(id)
		}
	})
	if err != nil {
		return err
	}
	sub.SetPendingLimits(-1, -1)
	s.sub = sub
	return s.pb.Conn().Flush()
}

// strandCountEvents makes the strand cycle's burst count outcome events on
// one subscription instead of calling Handle.Result per task; the tests
// use it to split the cost of Result from the cost of the cycle.
var strandCountEvents = false

func startStrand(ctx context.Context, w *world, cfg Config) (cycle, error) {
	names := broker.NewNames(strandPrefix)
	_ = w.prodJS.DeleteKeyValue(ctx, names.Bucket())
	_ = w.prodJS.DeleteStream(ctx, names.TasksStream())
	bcfg := broker.Config{URL: w.url, Prefix: strandPrefix, Name: "strand-bench-writer"}
	pb, err := broker.Connect(ctx, bcfg)
	if err != nil {
		return nil, err
	}
	bcfg.Name = "strand-bench-reader"
	wb, err := broker.Connect(ctx, bcfg)
	if err != nil {
		_ = pb.Close()
		return nil, err
	}
	s := &strandCycle{w: w, pb: pb, wb: wb, runDone: make(chan error, 1), countEvt: strandCountEvents}
	if s.wr, err = writer.New(link.Public(pb), writer.Config{Queue: "bench"}); err != nil {
		s.closeConns()
		return nil, err
	}
	rd, err := reader.New(link.Public(wb), echoRegistry(), reader.Config{Queues: []string{"bench"}, Concurrency: cfg.Concurrency, Prefetch: cfg.Prefetch, WorkerID: "bench"})
	if err != nil {
		s.closeConns()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopRun = stop
	go func() { s.runDone <- rd.Run(runCtx) }()
	if s.countEvt {
		if err := s.subscribeEvents(); err != nil {
			_ = s.close(ctx)
			return nil, err
		}
	}
	return s, nil
}

func (s *strandCycle) closeConns() {
	_ = s.pb.Close()
	_ = s.wb.Close()
}

func (s *strandCycle) submit(ctx context.Context, c *counter) error {
	if s.countEvt {
		id := newID()
		s.wt.expect(id, c)
		_, err := s.wr.Submit(ctx, "echo", []any{s.w.payload}, strand.ID(id))
		return err
	}
	h, err := s.wr.Submit(ctx, "echo", []any{s.w.payload})
	if err != nil {
		return err
	}
	s.results.Go(func() {
		var out []byte
		if err := h.Result(ctx, &out); err != nil {
			c.fail(err)
			return
		}
		if len(out) != len(s.w.payload) {
			c.fail(fmt.Errorf("task %s: result of %d bytes, want %d", h.ID(), len(out), len(s.w.payload)))
			return
		}
		c.add()
	})
	return nil
}

// submitBatch submits n tasks with one writer.SubmitBatch, then waits for
// their results (Handle.Result, in order) off the producer's path.
func (s *strandCycle) submitBatch(ctx context.Context, n int, c *counter) error {
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "echo", Args: []any{s.w.payload}}
		if s.countEvt {
			id := newID()
			s.wt.expect(id, c)
			calls[i].Args = append(calls[i].Args, strand.ID(id))
		}
	}
	hs, errs := s.wr.SubmitBatch(ctx, calls)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if s.countEvt {
		return nil
	}
	s.results.Go(func() {
		for _, h := range hs {
			var out []byte
			if err := h.Result(ctx, &out); err != nil {
				c.fail(err)
				continue
			}
			if len(out) != len(s.w.payload) {
				c.fail(fmt.Errorf("task %s: result of %d bytes, want %d", h.ID(), len(out), len(s.w.payload)))
				continue
			}
			c.add()
		}
	})
	return nil
}

func (s *strandCycle) one(ctx context.Context) error {
	h, err := s.wr.Submit(ctx, "echo", []any{s.w.payload})
	if err != nil {
		return err
	}
	var out []byte
	return h.Result(ctx, &out)
}

// redelivered is not counted for strand: its reader does not expose it.
func (s *strandCycle) redelivered() int64 { return -1 }

func (s *strandCycle) close(ctx context.Context) error {
	s.results.Wait()
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	s.stopRun()
	err := <-s.runDone
	_ = s.wr.Close()
	s.closeConns()
	// Every stream the broker provisioned for the bench's prefix: the
	// bucket and whatever sits next to it (dead letters, workers, items).
	bucket := broker.NewNames(strandPrefix).Bucket()
	for name := range s.w.prodJS.StreamNames(ctx).Name() {
		if name != "KV_"+bucket && !strings.HasPrefix(name, bucket+"_") && !strings.HasPrefix(name, "KV_"+bucket+"_") {
			continue
		}
		if derr := deleteStream(ctx, s.w.prodJS, name); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}
