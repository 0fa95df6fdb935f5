package reader

import (
	"context"
	"errors"
	"fmt"
	"github.com/strand-run/strand/internal/taskctx"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
)

// task is one delivery being processed.
type task struct {
	msg      broker.Delivery
	id       string
	queue    string
	format   codec.Format
	env      *codec.Envelope
	attempt  int // this delivery's number, 1 for the first
	attempts int // how many times the task may run
	ttl      time.Duration
	started  time.Time
	log      zerolog.Logger
	items    *itemStream // an iterator handler's items; nil for other handlers
}

// pendingAck is an outcome write in flight and what to do with the message
// once the server has confirmed it.
type pendingAck struct {
	fut  broker.Write // the outcome write (the state write for a retry); nil for none
	t    *task
	term bool
	// dlq is the dead letter's publish, confirmed before the term; a
	// failure hands the task back unless bestEffort.
	dlq        broker.Write
	bestEffort bool
	// retry: nak the message with delay instead of answering it for good.
	retry bool
	delay time.Duration
	// outcome is the outcome fut writes, for a workflow step to carry on
	// from once it is confirmed.
	outcome *codec.Outcome
}

// process runs one delivered message to its outcome. It never panics and
// never leaves a message unanswered: every path ends in an outcome write
// (then ack or term), an ack of a message that needs no work, or a nak.
func (r *Reader) process(ctx context.Context, j job, acks chan<- pendingAck) {
	m := j.msg
	queue, id, ok := r.names.ParseTaskSubject(m.Subject())
	if !ok {
		_ = m.Term() // not a task: nothing to record it under
		return
	}
	t := &task{msg: m, id: id, queue: queue, attempt: 1, ttl: r.cfg.ResultTTL}
	t.attempt = m.Attempt()
	t.log = r.log
	if r.logs {
		// A logger's context costs an allocation per task: only for a logger that logs.
		t.log = r.log.With().Str("task_id", id).Str("queue", queue).Int("attempt", t.attempt).Logger()
	}

	f, ferr := codec.ParseContentType(m.Headers().Get(codec.HeaderContentType))
	t.format = f
	if ferr != nil {
		t.format = codec.Sniff(m.Data())
	}
	env, err := codec.DecodeEnvelope(f, m.Data())
	switch {
	case ferr != nil:
		err = ferr
	case err == nil && env.ID != id:
		err = fmt.Errorf("%w: envelope id %q does not match its key's id %q", strand.ErrMalformed, env.ID, id)
	}
	if err != nil {
		fn := m.Headers().Get(codec.HeaderFunc)
		t.env = &codec.Envelope{ID: id, Func: fn, Queue: queue}
		t.log.Warn().Err(err).Msg("malformed task")
		r.finish(t, nil, &strand.TaskError{Kind: strand.ErrMalformed, Message: "task " + id + ": " + err.Error()}, acks)
		return
	}
	env.Queue = queue
	t.env = env
	t.attempts = r.attempts(env)
	if r.logs {
		t.log = t.log.With().Str("func", env.Func).Logger()
	}
	t.ttl = broker.ClampResultTTL(env.ResultTTLMS, r.cfg.ResultTTL)
	if r.isCancelled(queue, id) {
		r.answer(t, false, nil) // cancelled before it started: its cancellation is its outcome
		return
	}
	if isStart(env) {
		r.startFlow(t)
		return
	}
	if !r.waitOpen(t) || !r.waitNotBefore(t) {
		nak(t.log, m) // paused or held back, and the worker stops: another worker takes it later
		return
	}
	if r.isCancelled(queue, id) {
		_ = m.Ack() // cancelled while it waited
		return
	}
	// A redelivery may follow an outcome written before a crash or a lost
	// ack; a task whose producer chose its id may reuse one that is done.
	if t.attempt > 1 || m.Headers().Get(broker.HeaderOwnID) != "" {
		if o := r.outcome(ctx, t); o != nil {
			r.releaseUnique(t) // its worker may have died before it released the key
			// The outcome was written before a crash or a lost ack: done.
			// A dead task's dead letter may be missing: it is sent again
			// (the stream drops it if it has it).
			if o.Status == strand.StatusDead && o.Error != nil {
				if fut, err := r.deadLetter(t, o.Error, o.Attempt, o.Finished); err == nil {
					acks <- pendingAck{t: t, dlq: fut, bestEffort: true, term: true}
					return
				}
			}
			r.answer(t, false, nil)
			return
		}
	}
	fn, ok := r.reg.Lookup(env.Func)
	if !ok {
		r.finish(t, nil, &strand.TaskError{Kind: strand.ErrUnknownFunc, Message: r.unknown(env.Func)}, acks)
		return
	}
	if r.lost(t.attempt, t.attempts) {
		r.finish(t, nil, &strand.TaskError{Kind: strand.ErrLost, Message: fmt.Sprintf(
			"%s: given up after %d deliveries (%d attempts allowed): the workers running it stopped answering",
			env.Func, t.attempt-1, t.attempts)}, acks)
		return
	}

	c := j.claim
	if c == nil && len(r.cfg.Limits) > 0 {
		var reason string
		var next time.Time
		c, reason, next, err = r.admit(ctx, t)
		if err != nil {
			reason = "limit: " + err.Error()
		}
		if reason != "" {
			// Over a limit: not an attempt. The task waits in the room and
			// its slot takes other tasks meanwhile.
			r.writeState(t, r.waitingState(t, reason))
			r.park(&waiting{t: t, j: j, reason: reason, next: next}, r.urgent)
			return
		}
	}
	defer c.release(r.b) // after finish below: the outcome's finish time comes first

	taskCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if r.track(queue, id, cancel) {
		r.answer(t, false, nil) // cancelled before it started: its cancellation is its outcome
		return
	}
	defer r.untrack(queue, id)
	var timeout time.Duration
	if env.TimeoutMS > 0 {
		timeout = time.Duration(env.TimeoutMS) * time.Millisecond
		var stop context.CancelFunc
		taskCtx, stop = context.WithTimeoutCause(taskCtx, timeout, strand.ErrTimeout)
		defer stop()
	}
	taskCtx = taskctx.WithTask(taskCtx, strand.Task{
		ID: id, Func: env.Func, Queue: queue, Attempt: t.attempt, Worker: r.cfg.WorkerID, Meta: env.Meta,
	})

	t.started = time.Now()
	if fn.Iterator() {
		t.items = r.newItems(t)
	}
	running := &codec.State{
		Status: strand.StatusRunning, Func: env.Func, Queue: queue,
		Attempt: t.attempt, Worker: r.cfg.WorkerID, Started: t.started.UnixMilli(),
	}
	sw := r.newStateWriter(t, running)
	defer sw.stop()
	taskCtx = taskctx.WithProgress(taskCtx, sw.progress)
	var stateTimer *time.Timer
	if r.cfg.RunningAfter < 0 {
		sw.write()
	} else {
		stateTimer = time.AfterFunc(r.cfg.RunningAfter, sw.write)
	}
	hb := r.heartbeat(m)
	r.addInFlight(1)
	result, err := r.handle(taskCtx, t, fn, f) // the middleware chain around call
	r.addInFlight(-1)
	hb.Stop()
	if stateTimer != nil {
		stateTimer.Stop()
	}
	sw.stop()

	if err != nil {
		switch cause := context.Cause(taskCtx); {
		case errors.Is(cause, errShutdown):
			// Stopped by our shutdown, not by the task: let another worker run it.
			t.log.Info().Msg("handed back at shutdown")
			nak(t.log, m)
			return
		case errors.Is(cause, errCancelledByCaller):
			err = &strand.TaskError{Kind: strand.ErrCancelled, Message: env.Func + ": cancelled by caller"}
		case errors.Is(cause, strand.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
			err = &strand.TaskError{Kind: strand.ErrTimeout, Message: fmt.Sprintf("%s: timed out after %v", env.Func, timeout)}
		}
		var pe *registry.PanicError
		if errors.As(err, &pe) {
			t.log.Error().Str("panic", fmt.Sprint(pe.Value)).Str("stack", string(pe.Stack)).Msg("handler panicked")
		}
	}
	r.finish(t, result, err, acks)
}

// unknown says that fn is not registered here, and what is.
func (r *Reader) unknown(fn string) string {
	names := r.reg.Names()
	if len(names) > 12 {
		names = append(names[:12], "…")
	}
	return fmt.Sprintf("%s: unknown function (this worker runs: %s)", fn, strings.Join(names, ", "))
}

// finish writes the task's outcome, create-only, and queues the message to
// be acked (completed, cancelled) or terminated (failed, dead) once the
// write is confirmed. A handler's error with attempts left is not an
// outcome: finish records the retrying state and has the message naked
// with a backoff. After the last attempt of a task that had more than one
// the task is dead, and a copy goes to the dead-letter stream first.
func (r *Reader) finish(t *task, result any, err error, acks chan<- pendingAck) {
	env := t.env
	o := &codec.Outcome{
		Status: strand.StatusCompleted, Func: env.Func, Queue: t.queue, Created: env.Created, Meta: env.Meta,
		Attempt: t.attempt, Worker: r.cfg.WorkerID, Finished: time.Now().UnixMilli(),
	}
	if !t.started.IsZero() {
		o.Started = t.started.UnixMilli()
	}
	if err == nil && result != nil {
		raw, merr := t.format.Marshal(result)
		switch {
		case merr != nil:
			err = strand.Permanent(fmt.Errorf("%s: encode result %T: %w", env.Func, result, merr))
		case int64(len(raw)) > r.b.MaxRecord():
			err = &strand.TaskError{Kind: strand.ErrTooLarge, Message: fmt.Sprintf(
				"%s: result is %d bytes, the server accepts %d", env.Func, len(raw), r.b.MaxRecord())}
		default:
			o.Result = raw
		}
	}
	term, dead := false, false
	if err != nil {
		o.Error = codec.ErrorInfoOf(err)
		o.Status = strand.StatusFailed
		term = true
		switch {
		case o.Error.Kind == string(strand.ErrCancelled):
			o.Status, term = strand.StatusCancelled, false
		case !t.started.IsZero() && t.attempts > 1 && retryable(err, o.Error.Kind):
			if t.attempt < t.attempts {
				r.retry(t, err, o.Error, acks)
				return
			}
			o.Status, dead = strand.StatusDead, true
		}
		t.log.Debug().Str("kind", o.Error.Kind).Str("error", o.Error.Message).Str("status", string(o.Status)).Msg("task failed")
	}
	if (o.Status == strand.StatusFailed || o.Status == strand.StatusDead) && o.Error.Kind != string(strand.ErrMalformed) {
		o.Task = r.keepTask(t, o.Error)
	}
	if t.items != nil {
		// The items and their end marker are stored before the outcome,
		// so that whoever sees the outcome finds every item.
		n, ierr := t.items.end(o.Error)
		if ierr != nil {
			t.log.Error().Err(ierr).Msg("streamed items; the task will be redelivered")
			nak(t.log, t.msg)
			return
		}
		o.Items = n
	}
	if dead {
		// The dead letter is stored before the outcome, so that whoever
		// sees a dead task finds its dead letter. Dead tasks are rare: the
		// slot may wait for this one write.
		fut, derr := r.deadLetter(t, o.Error, t.attempt, o.Finished)
		if derr == nil {
			select {
			case <-fut.Ok():
			case derr = <-fut.Err():
			case <-time.After(r.cfg.AckWait / 2):
				derr = errors.New("no answer")
			}
		}
		if derr != nil {
			t.log.Error().Err(derr).Msg("write dead letter; the task will be redelivered")
			nak(t.log, t.msg)
			return
		}
	}
	data, merr := t.format.Marshal(o)
	if merr != nil { // cannot happen for these types; never leave the message hanging
		t.log.Error().Err(merr).Msg("encode outcome")
		nak(t.log, t.msg)
		return
	}
	fut, perr := r.b.WriteOutcome(t.queue, t.id, data, t.format, t.ttl)
	if perr != nil {
		t.log.Error().Err(perr).Msg("write outcome; the task will be redelivered")
		nak(t.log, t.msg)
		return
	}
	acks <- pendingAck{fut: fut, t: t, term: term, outcome: o}
}

// keepTask is the envelope a failed or dead outcome keeps, so that the
// task can be resubmitted (strand tasks retry): none when it would not fit
// the record beside the error. (A malformed envelope is never kept: its
// bytes would break the record.)
func (r *Reader) keepTask(t *task, e *codec.ErrorInfo) codec.Raw {
	data := t.msg.Data()
	room := r.b.MaxRecord() - 1024
	if e != nil {
		room -= int64(len(e.Message) + len(e.Kind))
	}
	if len(data) == 0 || int64(len(data)) > room {
		return nil
	}
	return codec.Raw(data)
}

// ackLinger is how long a task's final answer (ack or term) waits after
// its outcome is confirmed. The work queue removes an answered task, and
// removing the last task of the stream makes the server's file store drop
// its last block file and open a new one: when tasks come one at a time,
// that file churn sat on the next task's submit (302 µs per task one at a
// time, against 137 µs with the answer 2 ms later, by when the next task
// is in the stream). Nothing reads the ack: statuses read the outcome first.
const ackLinger = 2 * time.Millisecond

// ack answers each message once its outcome write is confirmed (or was
// refused because an outcome already exists), in order, off the pool; the
// final answers go ackLinger later, all that are due at once.
func (r *Reader) ack(acks <-chan pendingAck) {
	type answer struct {
		t    *task
		term bool
		at   time.Time
	}
	var due []answer
	send := func(a answer) {
		if a.term {
			_ = a.t.msg.Term()
		} else {
			_ = a.t.msg.Ack()
		}
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		var p pendingAck
		select {
		case <-linger.C:
			now := time.Now()
			for len(due) > 0 && !due[0].at.After(now) {
				send(due[0])
				due = due[1:]
			}
			if len(due) > 0 {
				linger.Reset(time.Until(due[0].at))
			}
			continue
		case q, ok := <-acks:
			if !ok {
				for _, a := range due {
					send(a)
				}
				return
			}
			p = q
		}
		switch ok := r.confirmed(&p); {
		case ok && isStep(p.t):
			r.releaseUnique(p.t)
			// A workflow step carries its workflow on before its answer,
			// off this goroutine: the next outcomes need not wait for it.
			r.carrying.Go(func() { r.answer(p.t, p.term, p.outcome) })
		case ok:
			r.releaseUnique(p.t)
			due = append(due, answer{t: p.t, term: p.term, at: time.Now().Add(ackLinger)})
			if len(due) == 1 {
				linger.Reset(ackLinger)
			}
		}
	}
}

// confirmed waits for p's writes and reports whether its task may now be
// answered for good; otherwise it has been handed back (a retry's nak with
// delay, or a nak for redelivery of a write that was not confirmed).
func (r *Reader) confirmed(p *pendingAck) bool {
	if p.retry {
		if p.fut != nil {
			select {
			case <-p.fut.Ok():
			case err := <-p.fut.Err():
				p.t.log.Warn().Err(err).Msg("write retrying state")
			}
		}
		if err := p.t.msg.NakWithDelay(p.delay); err != nil {
			p.t.log.Warn().Err(err).Msg("nak: the task returns after AckWait instead")
		}
		return false
	}
	if p.fut != nil {
		select {
		case <-p.fut.Ok():
		case err := <-p.fut.Err():
			if !r.settle(p.fut, err) {
				p.t.log.Error().Err(err).Msg("outcome not confirmed; the task will be redelivered")
				nak(p.t.log, p.t.msg)
				return false
			}
			// Stored after all, or an outcome exists already (an earlier run): it stands.
			p.outcome = nil // which of the two is not known here
		}
	}
	if p.dlq != nil {
		select {
		case <-p.dlq.Ok():
		case err := <-p.dlq.Err():
			if !p.bestEffort {
				p.t.log.Error().Err(err).Msg("dead letter not confirmed; the task will be redelivered")
				nak(p.t.log, p.t.msg)
				return false
			}
			p.t.log.Error().Err(err).Msg("dead letter not confirmed again; the task stays dead without it")
		}
	}
	return true
}

// settle finishes an outcome write that failed (broker.Settle: sent again
// while the connection fails over to another node or the stream elects a
// leader, or over the marker of an expired outcome), for up to half of
// AckWait. It reports whether the outcome is now stored, or one was
// already: then the task is answered instead of run again. See
// docs/decisions.md, "Cluster failover".
func (r *Reader) settle(w broker.Write, err error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/2)
	defer cancel()
	return r.b.Settle(ctx, w, err)
}

// writeState records the task's state without waiting for the server.
func (r *Reader) writeState(t *task, st *codec.State) { r.publishState(t, st) }

// publishState sends the task's state record and returns its future (nil
// if it could not be sent).
func (r *Reader) publishState(t *task, st *codec.State) broker.Write {
	data, err := t.format.Marshal(st)
	if err != nil {
		return nil
	}
	fut, err := r.b.WriteState(t.queue, t.id, data, t.format, t.ttl)
	if err != nil {
		t.log.Warn().Err(err).Msg("write state")
		return nil
	}
	return fut
}

// outcome returns the task's outcome if it has one. An outcome that
// cannot be read as one still counts: the task is done.
func (r *Reader) outcome(ctx context.Context, t *task) *codec.Outcome {
	o, err := r.b.Outcome(ctx, t.queue, t.id)
	switch {
	case err != nil && strings.Contains(err.Error(), "malformed"):
		return &codec.Outcome{Status: strand.StatusFailed}
	case err != nil || o == nil:
		return nil
	}
	return o.Outcome
}

// heartbeat tells the server, every third of AckWait, that the task is
// still being worked on, so a long task is not redelivered while it runs.
func (r *Reader) heartbeat(m broker.Delivery) *beat {
	b := &beat{every: r.cfg.AckWait / 3, msg: m}
	b.mu.Lock()
	b.t = time.AfterFunc(b.every, b.fire)
	b.mu.Unlock()
	return b
}

type beat struct {
	mu      sync.Mutex
	t       *time.Timer
	every   time.Duration
	msg     broker.Delivery
	stopped bool
}

func (b *beat) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	_ = b.msg.InProgress()
	b.t.Reset(b.every)
}

// Stop ends the heartbeats.
func (b *beat) Stop() {
	b.mu.Lock()
	b.stopped = true
	b.t.Stop()
	b.mu.Unlock()
}

// nak hands a message back for immediate redelivery.
func nak(log zerolog.Logger, m broker.Delivery) {
	if err := m.Nak(); err != nil {
		log.Warn().Err(err).Msg("nak: the task returns after AckWait instead")
	}
}
