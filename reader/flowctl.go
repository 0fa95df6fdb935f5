package reader

import (
	"context"
	"sync"
	"time"

	"github.com/strand-run/strand/internal/broker"
)

// gate is a queue's pause state as its worker follows it: open while the
// queue runs, shut while it is paused.
type gate struct {
	mu     sync.Mutex
	paused bool
	open   chan struct{} // closed while not paused
	settle func()        // waits for the pause events already received
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
		s, settle, err := r.b.FollowPause(ctx, q, func(paused bool) {
			if paused {
				r.log.Info().Str("queue", q).Msg("queue paused")
			}
			g.set(paused)
		})
		if err != nil {
			stop()
			return nil, err
		}
		g.settle = settle
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
	if g.settle != nil {
		g.settle() // a pause that came before the task is seen first
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

// waitNotBefore holds a task whose envelope says not to start it yet (a
// debounced task waits out its window, so that a newer submit may replace
// it), alive with in-progress acks. It reports false when the worker stops
// first; a task cancelled meanwhile goes on, to be skipped.
func (r *Reader) waitNotBefore(t *task) bool {
	at := time.UnixMilli(t.env.NotBefore)
	if t.env.NotBefore == 0 || !time.Now().Before(at) {
		return true
	}
	t.log.Debug().Time("not_before", at).Msg("the task waits for its time")
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	beat := time.NewTicker(min(r.cfg.AckWait/3, 100*time.Millisecond))
	defer beat.Stop()
	last := time.Now()
	for {
		select {
		case <-timer.C:
			return true
		case <-r.stopping:
			return false
		case now := <-beat.C:
			if r.isCancelled(t.queue, t.id) {
				return true // replaced: skipped at once
			}
			if now.Sub(last) >= r.cfg.AckWait/3 {
				_ = t.msg.InProgress()
				last = now
			}
		}
	}
}

// releaseUnique frees the uniqueness key a task held until it finished,
// off the acker's path.
func (r *Reader) releaseUnique(t *task) {
	if t.env == nil || t.env.Unique != broker.UniqueUntilFinished || t.env.Key == "" {
		return
	}
	r.releases.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait)
		defer cancel()
		if err := r.b.ReleaseUnique(ctx, t.queue, t.env.Key, t.id); err != nil {
			t.log.Warn().Err(err).Msg("release the uniqueness key; it expires by its TTL")
		}
	})
}
