package reader

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/internal/taskctx"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// maxTaskAttempts caps the max_attempts a task may ask for beyond the
// worker's MaxAttempts: the queue's consumer must be allowed enough
// deliveries for every attempt plus the deliveries lost to dying workers.
const maxTaskAttempts = 25

// maxBackoff caps the delay between two attempts.
const maxBackoff = 10 * time.Minute

// backoff is the delay after failed attempt n (1-based): base × 2^(n-1),
// capped at maxBackoff, with ±20 % jitter so that tasks that failed
// together do not return together.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// attemptCap is the most attempts any task gets on this worker.
func (r *Reader) attemptCap() int { return max(r.cfg.MaxAttempts, maxTaskAttempts) }

// consumerMaxDeliver is the queue consumer's MaxDeliver: the most attempts
// a task may have, plus MaxDeliver-1 deliveries lost to workers that died,
// so that the delivery on which the reader gives a task up as lost always
// comes.
func (r *Reader) consumerMaxDeliver() int { return r.attemptCap() + r.cfg.MaxDeliver - 1 }

// attempts is how many times a task may run: its envelope's max_attempts,
// else the worker's MaxAttempts, at most attemptCap.
func (r *Reader) attempts(env *codec.Envelope) int {
	n := r.cfg.MaxAttempts
	if env.MaxAttempts > 0 {
		n = env.MaxAttempts
	}
	return min(n, r.attemptCap())
}

// lost reports whether delivery n of a task with the given attempts is one
// too many: every delivery counts (failed attempts naked for a retry as
// well as deliveries whose worker died), and MaxDeliver-1 deliveries beyond
// the attempts are allowed for workers that die.
func (r *Reader) lost(n, attempts int) bool { return n >= attempts+r.cfg.MaxDeliver-1 }

// retryable reports whether a handler's error may be retried: errors,
// panics and timeouts, unless the handler said Permanent.
func retryable(err error, kind string) bool {
	switch kind {
	case string(strand.ErrFailed), string(strand.ErrPanic), string(strand.ErrTimeout):
	default:
		return false
	}
	var pe *taskctx.PermanentError
	return !errors.As(err, &pe)
}

// retry records the retrying state and hands the message to the acker, which
// naks it with the delay once the state is written.
func (r *Reader) retry(t *task, err error, info *codec.ErrorInfo, acks chan<- pendingAck) {
	delay := backoff(r.cfg.RetryBase, t.attempt)
	var re *taskctx.RetryError
	if errors.As(err, &re) && re.After > 0 {
		delay = re.After
	}
	now := time.Now()
	st := &codec.State{
		Status: strand.StatusRetrying, Func: t.env.Func, Queue: t.queue, Attempt: t.attempt, Worker: r.cfg.WorkerID,
		Started: t.started.UnixMilli(), NextAttempt: now.Add(delay).UnixMilli(), LastError: info,
	}
	t.log.Debug().Str("kind", info.Kind).Str("error", info.Message).Dur("retry_in", delay).Msg("task will be retried")
	acks <- pendingAck{fut: r.publishState(t, st), t: t, retry: true, delay: delay}
}

// deadLetter sends a copy of the task's envelope, as it was received, to
// the dead-letter stream, with what it was and why it died.
func (r *Reader) deadLetter(t *task, info *codec.ErrorInfo, attempts int, failed int64) (*broker.Write, error) {
	return r.b.WriteDeadLetter(&broker.DeadLetter{
		ID: t.id, Queue: t.queue, Func: t.env.Func, Kind: info.Kind, Error: info.Message,
		Attempts: attempts, Failed: time.UnixMilli(failed),
		Data: t.msg.Data(), ContentType: t.msg.Headers().Get(codec.HeaderContentType),
	})
}

// call runs the handler. A handler with a deadline runs on a goroutine of
// its own, so that one that ignores its ctx can be abandoned AbandonAfter
// past its deadline (or its cancel): the task ends with the ctx's error,
// its pool slot is free, and abandoned counts the goroutine until it
// returns; what it returns then is dropped.
func (r *Reader) call(ctx context.Context, t *task, fn *handler.Func, f codec.Format) (any, error) {
	env := t.env
	if env.TimeoutMS <= 0 {
		return r.invoke(ctx, t, fn, f)
	}
	type res struct {
		v   any
		err error
	}
	ch := make(chan res, 1)
	var state atomic.Int32 // 0 running, 1 returned, 2 abandoned
	r.ab.wg.Add(1)
	go func() {
		defer r.ab.wg.Done()
		v, err := r.invoke(ctx, t, fn, f)
		if !state.CompareAndSwap(0, 1) {
			r.ab.n.Add(-1)
			t.log.Warn().Msg("an abandoned handler returned at last; what it returned is dropped")
			return
		}
		ch <- res{v, err}
	}()
	select {
	case x := <-ch:
		return x.v, x.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(r.cfg.AbandonAfter)
	defer grace.Stop()
	select {
	case x := <-ch:
		return x.v, x.err
	case <-grace.C:
	}
	if !state.CompareAndSwap(0, 2) {
		x := <-ch // it returned just now
		return x.v, x.err
	}
	n := r.ab.n.Add(1)
	t.log.Warn().Int64("abandoned", n).Dur("grace", r.cfg.AbandonAfter).
		Msg("handler ignores its ctx: abandoned, its slot is free")
	return nil, ctx.Err()
}

// abandonment accounts for the goroutines of handlers given up on.
type abandonment struct {
	n  atomic.Int64   // abandoned and still running
	wg sync.WaitGroup // every handler goroutine of call
}

// abandoned is how many handlers this worker has given up on (they ignored
// their ctx past their deadline or cancel) and that are still running.
func (r *Reader) abandoned() int { return int(r.ab.n.Load()) }

// waitAbandoned gives abandoned handlers until deadline to return, so that
// Run does not return with goroutines of its own still running if it can help it.
func (r *Reader) waitAbandoned(deadline time.Duration) {
	if r.abandoned() == 0 {
		return
	}
	done := make(chan struct{})
	go func() { r.ab.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		r.log.Warn().Int("abandoned", r.abandoned()).Msg("stopping with abandoned handlers still running")
	}
}
