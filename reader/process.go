package reader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/internal/taskctx"

	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
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
	fut  *broker.Write // the outcome write (the state write for a retry); nil for none
	t    *task
	term bool
	// dlq is the dead letter's publish, confirmed before the term; a
	// failure hands the task back unless bestEffort.
	dlq        *broker.Write
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
// Each outcome has a method of its own (completed, failed, dead, retry,
// cancelledByCaller, timedOut, panicked, givenUp, malformed, unknownFunc, handBack).
func (r *Reader) process(ctx context.Context, j job, acks chan<- pendingAck) {
	t, err := r.decode(j.msg)
	switch {
	case t == nil:
		_ = j.msg.Term() // not a task: nothing to record it under
		return
	case err != nil:
		r.malformed(t, err, acks)
		return
	case r.answeredEarly(ctx, t, acks):
		return
	}
	fn, ok := (*handler.Table)(r.reg).Lookup(t.env.Func)
	if !ok {
		r.unknownFunc(t, acks)
		return
	}
	if r.lost(t.attempt, t.attempts) {
		r.givenUp(t, acks)
		return
	}
	c := j.claim
	if c == nil && len(r.cfg.Limits) > 0 {
		var parked bool
		if c, parked = r.limit(ctx, t, j); parked {
			return
		}
	}
	defer c.release(r.b) // after the outcome: its finish time comes first
	r.run(ctx, t, fn, acks)
}

// decode reads a delivery as a task: nil for a message that is not one
// (no task subject), else the task and, for a malformed envelope, why.
func (r *Reader) decode(m broker.Delivery) (*task, error) {
	queue, id, ok := r.names.ParseTaskSubject(m.Subject())
	if !ok {
		return nil, nil
	}
	t := &task{msg: m, id: id, queue: queue, attempt: m.Attempt(), ttl: r.cfg.ResultTTL, log: r.log}
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
		t.env = &codec.Envelope{ID: id, Func: m.Headers().Get(codec.HeaderFunc), Queue: queue}
		return t, err
	}
	env.Queue = queue
	t.env = env
	t.attempts = r.attempts(env)
	if r.logs {
		t.log = t.log.With().Str("func", env.Func).Logger()
	}
	t.ttl = broker.ClampResultTTL(env.ResultTTLMS, r.cfg.ResultTTL)
	return t, nil
}

// answeredEarly answers (or hands back) a task that is not to run here
// now, and reports whether it did: cancelled before it started, a
// workflow's start, paused or held back while the worker stops, or done
// already.
func (r *Reader) answeredEarly(ctx context.Context, t *task, acks chan<- pendingAck) bool {
	switch {
	case r.isCancelled(t.queue, t.id):
		r.answer(t, false, nil) // cancelled before it started: its cancellation is its outcome
	case isStart(t.env):
		r.startFlow(t)
	case !r.waitOpen(t) || !r.waitNotBefore(t):
		nak(t.log, t.msg) // paused or held back, and the worker stops: another worker takes it later
	case r.isCancelled(t.queue, t.id):
		_ = t.msg.Ack() // cancelled while it waited
	default:
		return r.doneBefore(ctx, t, acks)
	}
	return true
}

// doneBefore answers a task that has an outcome already and reports
// whether it did. A redelivery may follow an outcome written before a
// crash or a lost ack; a task whose producer chose its id may reuse one
// that is done; a task queued before a cancellation the worker has
// forgotten may have that cancellation as its outcome.
func (r *Reader) doneBefore(ctx context.Context, t *task, acks chan<- pendingAck) bool {
	if t.attempt <= 1 && t.msg.Headers().Get(broker.HeaderOwnID) == "" && !r.mayHaveForgotten(t.msg.Published()) {
		return false
	}
	o := r.outcome(ctx, t)
	if o == nil {
		return false
	}
	r.releaseUnique(t) // its worker may have died before it released the key
	// A dead task's dead letter may be missing: it is sent again (the
	// stream drops it if it has it).
	if o.Status == strand.StatusDead && o.Error != nil {
		if fut, err := r.deadLetter(t, o.Error, o.Attempt, o.Finished); err == nil {
			acks <- pendingAck{t: t, dlq: fut, bestEffort: true, term: true}
			return true
		}
	}
	r.answer(t, false, nil)
	return true
}

// limit takes the task's limits' slots. Over a limit, the task is parked
// (parked true): that is not an attempt; the task waits in the room and its
// pool slot takes other tasks meanwhile.
func (r *Reader) limit(ctx context.Context, t *task, j job) (c *claim, parked bool) {
	c, reason, next, err := r.admit(ctx, t)
	if err != nil {
		reason = "limit: " + err.Error()
	}
	if reason == "" {
		return c, false
	}
	r.writeState(t, r.waitingState(t, reason))
	r.park(&waiting{t: t, j: j, reason: reason, next: next}, r.urgent)
	return nil, true
}

// run runs the task's handler under its own ctx (its cancel, timeout and
// task context) and hands the result to the method of its outcome.
func (r *Reader) run(ctx context.Context, t *task, fn *handler.Func, acks chan<- pendingAck) {
	taskCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if r.track(t.queue, t.id, cancel) {
		r.answer(t, false, nil) // cancelled before it started: its cancellation is its outcome
		return
	}
	defer r.untrack(t.queue, t.id)
	timeout := time.Duration(t.env.TimeoutMS) * time.Millisecond
	if timeout > 0 {
		var stop context.CancelFunc
		taskCtx, stop = context.WithTimeoutCause(taskCtx, timeout, strand.ErrTimeout)
		defer stop()
	}
	taskCtx = taskctx.WithTask(taskCtx, strand.Task{
		ID: t.id, Func: t.env.Func, Queue: t.queue, Attempt: t.attempt, Worker: r.cfg.WorkerID, Meta: t.env.Meta,
	})
	result, err := r.execute(taskCtx, t, fn)
	if err == nil {
		r.completed(t, result, acks)
		return
	}
	var pe *handler.PanicError
	switch cause := context.Cause(taskCtx); {
	case errors.Is(cause, errShutdown):
		r.handBack(t)
	case errors.Is(cause, errCancelledByCaller):
		r.cancelledByCaller(t, acks)
	case errors.Is(cause, strand.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
		r.timedOut(t, timeout, acks)
	case errors.As(err, &pe):
		r.panicked(t, pe, err, acks)
	default:
		r.failed(t, err, acks)
	}
}

// execute calls the handler through the middleware chain, with what runs
// beside it: the running state (after RunningAfter) and its progress, the
// heartbeats, the in-flight count and an iterator's item stream.
func (r *Reader) execute(ctx context.Context, t *task, fn *handler.Func) (any, error) {
	t.started = time.Now()
	if fn.Iterator() {
		t.items = r.newItems(t)
	}
	running := &codec.State{
		Status: strand.StatusRunning, Func: t.env.Func, Queue: t.queue,
		Attempt: t.attempt, Worker: r.cfg.WorkerID, Started: t.started.UnixMilli(),
	}
	sw := r.newStateWriter(t, running)
	defer sw.stop()
	ctx = taskctx.WithProgress(ctx, sw.progress)
	var stateTimer *time.Timer
	if r.cfg.RunningAfter < 0 {
		sw.write()
	} else {
		stateTimer = time.AfterFunc(r.cfg.RunningAfter, sw.write)
	}
	hb := r.heartbeat(t.msg)
	r.addInFlight(1)
	result, err := r.handle(ctx, t, fn, t.format) // the middleware chain around call
	r.addInFlight(-1)
	hb.Stop()
	if stateTimer != nil {
		stateTimer.Stop()
	}
	sw.stop()
	return result, err
}

// handBack naks a task our shutdown stopped, not the task itself: another
// worker runs it.
func (r *Reader) handBack(t *task) {
	t.log.Info().Msg("handed back at shutdown")
	nak(t.log, t.msg)
}

// malformed fails a task whose envelope cannot be read.
func (r *Reader) malformed(t *task, err error, acks chan<- pendingAck) {
	t.log.Warn().Err(err).Msg("malformed task")
	r.failed(t, &strand.TaskError{Kind: strand.ErrMalformed, Message: "task " + t.id + ": " + err.Error()}, acks)
}

// unknownFunc fails a task of a function this worker does not have.
func (r *Reader) unknownFunc(t *task, acks chan<- pendingAck) {
	r.failed(t, &strand.TaskError{Kind: strand.ErrUnknownFunc, Message: r.unknown(t.env.Func)}, acks)
}

// givenUp fails a task delivered once too often (see lost) without
// running it: kind lost.
func (r *Reader) givenUp(t *task, acks chan<- pendingAck) {
	r.failed(t, &strand.TaskError{Kind: strand.ErrLost, Message: fmt.Sprintf(
		"%s: given up after %d deliveries (%d attempts allowed): the workers running it stopped answering",
		t.env.Func, t.attempt-1, t.attempts)}, acks)
}

// cancelledByCaller ends a task its caller cancelled while it ran.
func (r *Reader) cancelledByCaller(t *task, acks chan<- pendingAck) {
	r.failed(t, &strand.TaskError{Kind: strand.ErrCancelled, Message: t.env.Func + ": cancelled by caller"}, acks)
}

// timedOut ends (or retries) a task whose handler ran past its timeout.
func (r *Reader) timedOut(t *task, timeout time.Duration, acks chan<- pendingAck) {
	r.failed(t, &strand.TaskError{Kind: strand.ErrTimeout, Message: fmt.Sprintf("%s: timed out after %v", t.env.Func, timeout)}, acks)
}

// panicked logs a handler's panic, then ends (or retries) its task.
func (r *Reader) panicked(t *task, pe *handler.PanicError, err error, acks chan<- pendingAck) {
	t.log.Error().Str("panic", fmt.Sprint(pe.Value)).Str("stack", string(pe.Stack)).Msg("handler panicked")
	r.failed(t, err, acks)
}

// unknown says that fn is not registered here, and what is.
func (r *Reader) unknown(fn string) string {
	names := (*handler.Table)(r.reg).Names()
	if len(names) > 12 {
		names = append(names[:12], "…")
	}
	return fmt.Sprintf("%s: unknown function (this worker runs: %s)", fn, strings.Join(names, ", "))
}

// newOutcome is the task's outcome record with status, as of now.
func (r *Reader) newOutcome(t *task, status strand.Status) *codec.Outcome {
	o := &codec.Outcome{
		Status: status, Func: t.env.Func, Queue: t.queue, Created: t.env.Created, Meta: t.env.Meta,
		Attempt: t.attempt, Worker: r.cfg.WorkerID, Finished: time.Now().UnixMilli(),
	}
	if !t.started.IsZero() {
		o.Started = t.started.UnixMilli()
	}
	return o
}

// completed records the handler's result: the task is completed, unless
// its result cannot be encoded or is too large to store (then it failed).
func (r *Reader) completed(t *task, result any, acks chan<- pendingAck) {
	o := r.newOutcome(t, strand.StatusCompleted)
	if result != nil {
		raw, err := t.format.Marshal(result)
		switch {
		case err != nil:
			r.failed(t, strand.Permanent(fmt.Errorf("%s: encode result %T: %w", t.env.Func, result, err)), acks)
			return
		case int64(len(raw)) > r.b.MaxRecord():
			r.failed(t, &strand.TaskError{Kind: strand.ErrTooLarge, Message: fmt.Sprintf(
				"%s: result is %d bytes, the server accepts %d", t.env.Func, len(raw), r.b.MaxRecord())}, acks)
			return
		}
		o.Result = raw
	}
	r.record(t, o, false, acks)
}

// failed ends a task with err: cancelled (kind cancelled), retried with a
// backoff (a retryable error with attempts left, see retry), dead (the last
// of several attempts), or failed for good.
func (r *Reader) failed(t *task, err error, acks chan<- pendingAck) {
	info := codec.ErrorInfoOf(err)
	status, term := strand.StatusFailed, true
	switch {
	case info.Kind == string(strand.ErrCancelled):
		status, term = strand.StatusCancelled, false
	case !t.started.IsZero() && t.attempts > 1 && retryable(err, info.Kind):
		if t.attempt < t.attempts {
			r.retry(t, err, info, acks)
			return
		}
		r.dead(t, info, acks)
		return
	}
	o := r.newOutcome(t, status)
	o.Error = info
	t.log.Debug().Str("kind", info.Kind).Str("error", info.Message).Str("status", string(status)).Msg("task failed")
	if status == strand.StatusFailed && info.Kind != string(strand.ErrMalformed) {
		o.Task = r.keepTask(t, info)
	}
	r.record(t, o, term, acks)
}

// dead ends a task after the last of its attempts. Its dead letter is
// stored before the outcome, so that whoever sees a dead task finds its
// dead letter. Dead tasks are rare: the slot may wait for this one write.
func (r *Reader) dead(t *task, info *codec.ErrorInfo, acks chan<- pendingAck) {
	o := r.newOutcome(t, strand.StatusDead)
	o.Error = info
	t.log.Debug().Str("kind", info.Kind).Str("error", info.Message).Str("status", string(o.Status)).Msg("task failed")
	o.Task = r.keepTask(t, info)
	if !r.endItems(t, o) {
		return
	}
	fut, err := r.deadLetter(t, info, t.attempt, o.Finished)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/2)
		_, err = r.b.Answer(ctx, fut)
		cancel()
	}
	if err != nil {
		t.log.Error().Err(err).Msg("write dead letter; the task will be redelivered")
		nak(t.log, t.msg)
		return
	}
	r.write(t, o, true, acks)
}

// record stores the task's outcome o (after its items) and has the
// message answered, terminated if term, once the write is confirmed.
func (r *Reader) record(t *task, o *codec.Outcome, term bool, acks chan<- pendingAck) {
	if r.endItems(t, o) {
		r.write(t, o, term, acks)
	}
}

// endItems stores an iterator's items and their end marker, so that
// whoever sees the outcome finds every item, and counts them in o. It
// reports false when it could not: the task is handed back.
func (r *Reader) endItems(t *task, o *codec.Outcome) bool {
	if t.items == nil {
		return true
	}
	n, err := t.items.end(o.Error)
	if err != nil {
		t.log.Error().Err(err).Msg("streamed items; the task will be redelivered")
		nak(t.log, t.msg)
		return false
	}
	o.Items = n
	return true
}

// write sends the outcome, create-only, and queues the message to be
// answered (acked, or terminated if term) once the write is confirmed.
func (r *Reader) write(t *task, o *codec.Outcome, term bool, acks chan<- pendingAck) {
	data, err := t.format.Marshal(o)
	if err != nil { // cannot happen for these types; never leave the message hanging
		t.log.Error().Err(err).Msg("encode outcome")
		nak(t.log, t.msg)
		return
	}
	fut, err := r.b.WriteOutcome(t.queue, t.id, data, t.format, t.ttl)
	if err != nil {
		t.log.Error().Err(err).Msg("write outcome; the task will be redelivered")
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
			if _, err := r.b.Answer(context.Background(), p.fut); err != nil {
				p.t.log.Warn().Err(err).Msg("write retrying state")
			}
		}
		if err := p.t.msg.NakWithDelay(p.delay); err != nil {
			p.t.log.Warn().Err(err).Msg("nak: the task returns after AckWait instead")
		}
		return false
	}
	if p.fut != nil {
		// Answer gives up on an answer the server may have lost (its
		// stream's leader changed): settle then sends the write again.
		if _, err := r.b.Answer(context.Background(), p.fut); err != nil {
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
		if _, err := r.b.Answer(context.Background(), p.dlq); err != nil {
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
func (r *Reader) settle(w *broker.Write, err error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/2)
	defer cancel()
	return r.b.Settle(ctx, w, err)
}

// writeState records the task's state without waiting for the server.
func (r *Reader) writeState(t *task, st *codec.State) { r.publishState(t, st) }

// publishState sends the task's state record and returns its future (nil
// if it could not be sent).
func (r *Reader) publishState(t *task, st *codec.State) *broker.Write {
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
