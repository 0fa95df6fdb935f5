package reader

import (
	"context"
	"sync"
	"time"
)

// gate is a queue's pause state as its worker follows it: open while the
// queue runs, shut while it is paused.
type gate struct {
	mu     sync.Mutex
	paused bool
	open   chan struct{} // closed while not paused
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if paused == g.paused {
		return
	}
	g.paused = paused
	if paused {
		g.open = make(chan struct{})
	} else {
		close(g.open)
	}
}

// opened is closed while the queue is not paused.
func (g *gate) opened() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// followPauses keeps a gate per queue of the worker in step with the
// queues' pause records.
func (r *Reader) followPauses(ctx context.Context) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for _, q := range r.cfg.Queues {
		g := r.gates[q]
		s, err := r.b.FollowPause(ctx, q, func(paused bool) {
			if paused {
				r.log.Info().Str("queue", q).Msg("queue paused")
			}
			g.set(paused)
		})
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, s)
	}
	return stop, nil
}

// waitOpen holds a delivered task while its queue is paused, telling the
// server it is in progress so that it is not redelivered meanwhile (and no
// attempt is spent). It reports false when the worker stops first: the
// task is then handed back.
func (r *Reader) waitOpen(t *task) bool {
	g := r.gates[t.queue]
	if g == nil {
		return true
	}
	open := g.opened()
	select {
	case <-open:
		return true
	default:
	}
	t.log.Debug().Msg("queue paused: the task waits")
	beat := time.NewTicker(r.cfg.AckWait / 3)
	defer beat.Stop()
	for {
		select {
		case <-open:
			return true
		case <-r.stopping:
			return false
		case <-beat.C:
			_ = t.msg.InProgress()
		}
	}
}

// gate returns the queue's gate, for the fetcher.
func (r *Reader) gate(queue string) *gate {
	if g := r.gates[queue]; g != nil {
		return g
	}
	return newGate()
}
