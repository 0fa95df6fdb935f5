package reader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
)

// A delivered task that no pool goroutine is free to start waits for one
// in the worker: a prefetched task, or one a free slot asked for while the
// pool ran held tasks. It may wait holdFor; then, and at doubling
// intervals up to holdCheckMax, the worker asks the server whether another
// worker waits for tasks of its lane, and if one does, hands the task back
// (nak): the server gives it to that worker's request, a free slot's
// first. So a long task holds a task that an idle worker could run for
// holdFor at most (plus a round trip), not for as long as it runs.
const (
	holdFor      = 100 * time.Millisecond
	holdCheckMax = time.Second
)

// holdEnd is how a delivered task left the fetcher.
type holdEnd int

const (
	handed     holdEnd = iota // to a pool goroutine
	handedBack                // to the server, for a worker that waits
	stopped                   // the worker stops: the caller hands it back
)

// hand gives j to a pool goroutine, or hands it back to the server for
// another worker once it has waited holdFor and one waits (see holdFor).
// A stopping worker still starts what it holds while its grace lasts (its
// pool runs on): a task handed back is one more delivery, counted as an
// attempt. Once the grace is over (r.graceOver), hand returns stopped.
func (r *Reader) hand(queue, lane string, j job, jobs chan<- job) holdEnd {
	select {
	case jobs <- j:
		return handed
	case <-r.graceOver:
		return stopped
	default:
	}
	wait := holdFor
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case jobs <- j:
			return handed
		case <-r.graceOver:
			return stopped
		case <-t.C:
		}
		if r.othersWait(queue, lane) {
			nak(r.log, j.msg)
			return handedBack
		}
		wait = min(2*wait, holdCheckMax)
		t.Reset(wait)
	}
}

// othersWait reports whether a pull request of another worker waits at
// the consumer of queue's lane: more wait there than this worker has open.
func (r *Reader) othersWait(queue, lane string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := r.b.Waiting(ctx, queue, lane)
	switch {
	case err == nil:
	case errors.Is(err, strand.ErrForbidden) && !r.pulls.warned.Swap(true):
		r.log.Warn().Err(err).Str("queue", queue).Msg("this worker may not read its queue's consumer info: a task it holds waits for its slots even while another worker waits (docs/operations.md, Permissions)")
		return false
	default:
		r.log.Debug().Err(err).Str("queue", queue).Msg("asking whether other workers wait")
		return false
	}
	return n > r.pulls.requests(queue, lane)
}

// pulls are the worker's Pullers of each queue's lanes, to tell its own
// open pull requests from other workers'.
type pulls struct {
	mu     sync.Mutex
	by     map[laneKey][]*broker.Puller
	warned atomic.Bool // a refused consumer info read was logged
}

type laneKey struct{ queue, lane string }

// add counts p's requests as the worker's own until the returned func.
func (ps *pulls) add(queue, lane string, p *broker.Puller) (remove func()) {
	k := laneKey{queue, lane}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.by == nil {
		ps.by = map[laneKey][]*broker.Puller{}
	}
	ps.by[k] = append(ps.by[k], p)
	return func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		list := ps.by[k]
		for i, q := range list {
			if q == p {
				ps.by[k] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}
}

// requests is how many pull requests the worker has open on queue's lane.
func (ps *pulls) requests(queue, lane string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for _, p := range ps.by[laneKey{queue, lane}] {
		n += p.Requests()
	}
	return n
}
