package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// This file is the wire of workflows (docs/protocol.md, "Workflows"): the
// start task that creates one, the definition and end records, the release
// of a step once the steps it runs after have completed, the failure
// policy and the end. Each rule lives in one function here; workers call
// StartFlow and CarryOn, clients SubmitFlow, LookFlow and CancelFlow.

// Kinds of a workflow's records in the bucket.
const (
	KindFlow    = "f" // its definition, written once by the worker that starts it
	KindFlowEnd = "w" // its end, written once by whoever sees it end first
)

// Default TTLs of a workflow, as the writer's for tasks.
const (
	defaultFlowTaskTTL   = 14 * 24 * time.Hour
	defaultFlowResultTTL = 24 * time.Hour
)

// flowTTLs are the task TTL (how long the workflow may take) and the result
// TTL of fl; its records live for their sum.
func flowTTLs(fl *codec.Flow) (task, result time.Duration) {
	task, result = defaultFlowTaskTTL, defaultFlowResultTTL
	if fl.TaskTTLMS > 0 {
		task = max(time.Duration(fl.TaskTTLMS)*time.Millisecond, MinTTL)
	}
	result = ClampResultTTL(fl.ResultTTLMS, result)
	return task, result
}

// SubmitFlow creates a workflow: one publish of its start task, which holds
// the whole definition, so that the workflow exists entirely or not at all.
// A worker of fl.Queue runs the start task: it stores the definition and
// releases the steps that run after no other. fl must be valid
// (codec.Flow.Validate). A workflow id that is taken (its start task is
// queued, or its definition is kept) is refused with strand.ErrDuplicate.
func (b *Broker) SubmitFlow(ctx context.Context, fl *codec.Flow, f codec.Format) error {
	def, err := f.Marshal(fl)
	if err != nil {
		return fmt.Errorf("flow %s: %w", fl.ID, err)
	}
	n := b.names
	recs, err := b.getAll(ctx,
		read{n.Stream(), n.KeySubject(n.Key(KindFlow, fl.Queue, fl.ID))},
		read{n.Stream(), n.KeySubject(n.Key(KindFlowEnd, fl.Queue, fl.ID))})
	if err != nil {
		return fmt.Errorf("flow %s: %w", fl.ID, err)
	}
	if recs[0] != nil || recs[1] != nil {
		return fmt.Errorf("flow %s: %w", fl.ID, strand.ErrDuplicate)
	}
	env := &codec.Envelope{
		V: codec.Version, ID: fl.ID, Func: codec.FlowStartFunc, Args: []codec.Raw{def},
		Queue: fl.Queue, Created: fl.Created, Meta: fl.Meta,
		Flow: &codec.FlowRef{ID: fl.ID, Queue: fl.Queue},
	}
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return fmt.Errorf("flow %s: %w", fl.ID, err)
	}
	taskTTL, _ := flowTTLs(fl)
	t := &Task{Queue: fl.Queue, ID: fl.ID, Func: env.Func, Format: f, Data: data, TTL: taskTTL, OwnID: true}
	if err := b.Submit(ctx, t)[0]; err != nil {
		return fmt.Errorf("flow %s: %w", fl.ID, err)
	}
	return nil
}

// StartFlow runs a workflow's start task (env): it stores the definition
// create-only (a definition stored by an earlier delivery stands), then
// releases the steps that run after no other. Every part is idempotent: a
// worker that dies half-way leaves the task to be delivered again, and the
// next one finishes the job. A definition that cannot be read is an error
// wrapping strand.ErrMalformed: the workflow then ends failed.
func (b *Broker) StartFlow(ctx context.Context, env *codec.Envelope, f codec.Format) error {
	if len(env.Args) != 1 {
		return b.badStart(ctx, env, f, fmt.Errorf("%w: start task with %d args, want the definition", strand.ErrMalformed, len(env.Args)))
	}
	def := env.Args[0]
	fl, err := codec.DecodeFlow(def)
	if err == nil && (fl.ID != env.ID || fl.Queue != env.Queue) {
		err = fmt.Errorf("%w: definition of %s in the start task of %s", strand.ErrMalformed, fl.ID, env.ID)
	}
	if err != nil {
		return b.badStart(ctx, env, f, err)
	}
	taskTTL, resultTTL := flowTTLs(fl)
	_, err = b.create(ctx, b.names.Key(KindFlow, fl.Queue, fl.ID), def, f, taskTTL+resultTTL)
	if err != nil && !errors.Is(err, strand.ErrFinished) {
		return fmt.Errorf("flow %s: store definition: %w", fl.ID, err)
	}
	b.flows.put(fl.Queue, fl.ID, &flowDef{fl: fl, f: f})
	if err != nil {
		// Stored by an earlier delivery, which may have released some
		// steps, and steps may have run since: each is released by the rule.
		_, err = b.releaseAll(ctx, fl, f, fl.Roots())
		return err
	}
	return b.releaseRoots(ctx, fl, f, taskTTL)
}

// releaseRoots queues the steps that run after no other, all in one
// pipeline, for a workflow whose definition was stored just now: no step
// of it has a record yet, unless it was cancelled before it started (then
// its end exists and nothing is queued). A publish racing another
// delivery of the start task is refused, or dropped by its Nats-Msg-Id.
func (b *Broker) releaseRoots(ctx context.Context, fl *codec.Flow, f codec.Format, taskTTL time.Duration) error {
	if end, err := b.flowEnd(ctx, fl.Queue, fl.ID); err != nil || end != nil {
		return err
	}
	roots := fl.Roots()
	tasks := make([]*Task, 0, len(roots))
	sent := make([]*codec.FlowStep, 0, len(roots))
	var errs []error
	for _, s := range roots {
		env, err := stepEnvelope(fl, f, s, nil, nil)
		var data []byte
		if err == nil {
			data, err = codec.EncodeEnvelope(f, env)
		}
		if err != nil {
			errs = append(errs, b.failStep(ctx, fl, f, s, string(strand.ErrBadArgs), err))
			continue
		}
		id := codec.StepID(fl.ID, s.Name)
		tasks = append(tasks, &Task{Queue: fl.StepQueue(s), ID: id, Func: s.Func, Format: f, Data: data, TTL: taskTTL, MsgID: id})
		sent = append(sent, s)
	}
	for i, err := range b.Submit(ctx, tasks...) {
		switch {
		case err == nil, errors.Is(err, strand.ErrDuplicate):
		case errors.Is(err, strand.ErrTooLarge):
			errs = append(errs, b.failStep(ctx, fl, f, sent[i], string(strand.ErrTooLarge), err))
		default:
			errs = append(errs, fmt.Errorf("release %s: %w", sent[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// badStart ends a workflow whose start task cannot be read: failed, kind
// malformed. The definition is unreadable, so no step is ever released.
func (b *Broker) badStart(ctx context.Context, env *codec.Envelope, f codec.Format, cause error) error {
	return b.FailStart(ctx, env, f, string(strand.ErrMalformed), cause.Error())
}

// FailStart ends the workflow of start task env failed with an error of
// kind: a worker gives up on a start task it could not run (kind lost
// after too many deliveries). Steps released already run on; none is
// released after the end.
func (b *Broker) FailStart(ctx context.Context, env *codec.Envelope, f codec.Format, kind, msg string) error {
	q := env.Queue
	if env.Flow != nil && env.Flow.Queue != "" {
		q = env.Flow.Queue
	}
	end := &codec.FlowOutcome{Status: strand.StatusFailed, Finished: time.Now().UnixMilli(),
		Error: &codec.ErrorInfo{Kind: kind, Message: "flow " + env.ID + ": " + msg}}
	return b.endFlow(ctx, q, env.ID, f, end, defaultFlowTaskTTL+defaultFlowResultTTL)
}

// flowDef is a decoded definition and its format.
type flowDef struct {
	fl *codec.Flow
	f  codec.Format
}

// flowCache keeps definitions, which never change, so that a worker reads
// each workflow's once however many of its steps it runs.
type flowCache struct {
	mu   sync.Mutex
	defs map[string]*flowDef
}

const flowCacheSize = 1024

func (c *flowCache) get(queue, id string) *flowDef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.defs[queue+"."+id]
}

func (c *flowCache) put(queue, id string, d *flowDef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.defs == nil || len(c.defs) >= flowCacheSize {
		c.defs = make(map[string]*flowDef)
	}
	c.defs[queue+"."+id] = d
}

// flow reads workflow id's definition: from the record, else from its start
// task while it waits in its queue. nil if there is neither.
func (b *Broker) flow(ctx context.Context, queue, id string) (*flowDef, error) {
	if d := b.flows.get(queue, id); d != nil {
		return d, nil
	}
	rec, err := b.record(ctx, b.names.Key(KindFlow, queue, id))
	if err != nil {
		return nil, err
	}
	var data []byte
	if rec != nil {
		data = rec.Data
	} else {
		task, err := b.Queued(ctx, queue, id)
		if err != nil || task == nil {
			return nil, err
		}
		f, err := task.Format()
		if err != nil {
			return nil, fmt.Errorf("flow %s: %w", id, err)
		}
		env, err := codec.DecodeEnvelope(f, task.Data)
		if err != nil || len(env.Args) != 1 {
			return nil, fmt.Errorf("flow %s: %w: start task", id, strand.ErrMalformed)
		}
		data = env.Args[0]
	}
	fl, err := codec.DecodeFlow(data)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", id, err)
	}
	d := &flowDef{fl: fl, f: codec.Sniff(data)}
	if rec != nil {
		b.flows.put(queue, id, d)
	}
	return d, nil
}

// flowEnd reads workflow id's end record; nil while it has none.
func (b *Broker) flowEnd(ctx context.Context, queue, id string) (*codec.FlowOutcome, error) {
	rec, err := b.record(ctx, b.names.Key(KindFlowEnd, queue, id))
	if err != nil || rec == nil {
		return nil, err
	}
	return codec.DecodeFlowOutcome(rec.Data)
}

// startFailed is the end of a workflow whose start task got an outcome: a
// worker that does not know workflows failed it (unknown function), or
// someone cancelled it as a task. Workers write no outcome for a start
// task they run, so any outcome means the workflow never started.
func startFailed(id string, o *Outcome) *codec.FlowOutcome {
	end := &codec.FlowOutcome{Status: strand.StatusFailed, Error: o.Error, Finished: o.Finished}
	if o.Status == strand.StatusCancelled {
		end.Status = strand.StatusCancelled
	}
	if end.Error == nil {
		end.Error = &codec.ErrorInfo{Kind: string(o.Status), Message: "flow " + id + ": its start task ended " + string(o.Status)}
	}
	return end
}

// flowOver reads workflow id's end, or, if it has none, its start task's
// outcome as an end (startFailed); nil while it goes on.
func (b *Broker) flowOver(ctx context.Context, queue, id string) (*codec.FlowOutcome, error) {
	end, err := b.flowEnd(ctx, queue, id)
	if err != nil || end != nil {
		return end, err
	}
	o, err := b.Outcome(ctx, queue, id)
	if err != nil || o == nil {
		return nil, err
	}
	return startFailed(id, o), nil
}

// endFlow writes the workflow's end create-only: an end written first stands.
func (b *Broker) endFlow(ctx context.Context, queue, id string, f codec.Format, end *codec.FlowOutcome, ttl time.Duration) error {
	data, err := f.Marshal(end)
	if err != nil {
		return err
	}
	if _, err := b.create(ctx, b.names.Key(KindFlowEnd, queue, id), data, f, ttl); err != nil && !errors.Is(err, strand.ErrFinished) {
		return fmt.Errorf("flow %s: write end: %w", id, err)
	}
	return nil
}

// stepOutcomes reads the outcomes of steps at once: nil for those without.
func (b *Broker) stepOutcomes(ctx context.Context, fl *codec.Flow, steps []*codec.FlowStep) ([]*Outcome, error) {
	reads := make([]read, 0, 2*len(steps))
	for _, s := range steps {
		q, id := fl.StepQueue(s), codec.StepID(fl.ID, s.Name)
		reads = append(reads,
			read{b.names.Stream(), b.names.KeySubject(b.names.ResultKey(q, id))},
			read{b.names.Stream(), b.names.KeySubject(b.names.CancelKey(q, id))})
	}
	if len(reads) == 0 {
		return nil, nil
	}
	recs, err := b.getAll(ctx, reads...)
	if err != nil {
		return nil, err
	}
	out := make([]*Outcome, len(steps))
	for i := range steps {
		if out[i], err = b.firstOutcome(recs[2*i], recs[2*i+1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// released says what release did with a step.
type released int

const (
	notReady released = iota // a step it runs after has not completed
	sent                     // queued now, or by another worker before
	ended                    // the step has an outcome (or cancellation) already
)

// release queues step s if every step it runs after has completed, with
// their results as its arguments. The step's task id is the same for every
// worker (codec.StepID) and its publish carries it as Nats-Msg-Id, so that
// two workers releasing it at once — two of its parents finishing together,
// or a worker run again after a crash — queue it once: the stream refuses a
// second task on its subject while the first waits or runs, release reads
// the step's outcome and cancellation before it publishes (and queues
// nothing once either exists), and the stream's duplicate window drops a
// second publish made between another's read and its publish. A workflow that has ended (failed,
// cancelled) releases nothing more: the step is cancelled instead.
func (b *Broker) release(ctx context.Context, fl *codec.Flow, f codec.Format, s *codec.FlowStep) (released, error) {
	// The parents first: for most calls (a fan-in's parents but the last)
	// that is all there is to read.
	results, formats, ready, err := b.parentResults(ctx, fl, s)
	switch {
	case err != nil:
		return notReady, err
	case errors.Is(ready, errParentFailed):
		return ended, nil // the failed parent cancels s, if it has not yet
	case ready != nil:
		return notReady, nil
	}
	q, id := fl.StepQueue(s), codec.StepID(fl.ID, s.Name)
	n := b.names
	recs, err := b.getAll(ctx,
		read{n.Stream(), n.KeySubject(n.ResultKey(q, id))},
		read{n.Stream(), n.KeySubject(n.CancelKey(q, id))},
		read{n.Stream(), n.KeySubject(n.Key(KindFlowEnd, fl.Queue, fl.ID))})
	if err != nil {
		return notReady, fmt.Errorf("release %s: %w", s.Name, err)
	}
	if recs[0] != nil || recs[1] != nil {
		return ended, nil
	}
	if recs[2] != nil {
		return ended, b.cancelSteps(ctx, fl, f, []*codec.FlowStep{s})
	}
	env, err := stepEnvelope(fl, f, s, results, formats)
	if err != nil {
		return ended, b.failStep(ctx, fl, f, s, string(strand.ErrBadArgs), err)
	}
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return ended, b.failStep(ctx, fl, f, s, string(strand.ErrBadArgs), err)
	}
	taskTTL, _ := flowTTLs(fl)
	// Not OwnID: the reads above were the check of the id's outcome, and
	// the Nats-Msg-Id covers the moment between them and the publish.
	t := &Task{Queue: q, ID: id, Func: s.Func, Format: f, Data: data, TTL: taskTTL, MsgID: id}
	switch err := b.Submit(ctx, t)[0]; {
	case err == nil, errors.Is(err, strand.ErrDuplicate):
		return sent, nil
	case errors.Is(err, strand.ErrTooLarge):
		return ended, b.failStep(ctx, fl, f, s, string(strand.ErrTooLarge), err)
	default:
		return notReady, fmt.Errorf("release %s: %w", s.Name, err)
	}
}

// maxProbe is the most outcomes of a step's parents read at once; the
// first read is of one, then each batch is four times the last.
const maxProbe = 64

// parentResults reads the outcomes of the steps s runs after and returns
// their results in the order of s.After once all have completed; else
// notYet says why not (errParentRunning, errParentFailed).
// It stops at the first batch with one that has not: that parent, once
// its outcome is stored, runs this check itself and finds this one's, so
// only the last parent to complete reads them all. The batches go from the
// end of After, where the parents still running are (they were released
// in order), one outcome at first: a fan-in of n steps reads about n
// outcomes in all before its last parent, not n².
func (b *Broker) parentResults(ctx context.Context, fl *codec.Flow, s *codec.FlowStep) (_ []codec.Raw, _ []codec.Format, notYet, err error) {
	results := make([]codec.Raw, len(s.After))
	formats := make([]codec.Format, len(s.After))
	for hi, size := len(s.After), 1; hi > 0; hi, size = hi-size, min(4*size, maxProbe) {
		lo := max(hi-size, 0)
		batch := make([]*codec.FlowStep, 0, hi-lo)
		for _, p := range s.After[lo:hi] {
			ps, _ := fl.Step(p)
			batch = append(batch, ps)
		}
		outs, err := b.stepOutcomes(ctx, fl, batch)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("release %s: %w", s.Name, err)
		}
		for i, o := range outs {
			switch {
			case o == nil:
				return nil, nil, errParentRunning, nil // its own end releases s
			case o.Status != strand.StatusCompleted:
				return nil, nil, errParentFailed, nil
			}
			results[lo+i], formats[lo+i] = o.Result, o.Format
			if o.Items > 0 && len(o.Result) == 0 {
				// An iterator step: its result, for the steps after it, is
				// the list of its items.
				q, id := fl.StepQueue(batch[i]), codec.StepID(fl.ID, batch[i].Name)
				if results[lo+i], err = b.stepItems(ctx, q, id, o.Items, o.Format); err != nil {
					return nil, nil, nil, fmt.Errorf("release %s: %w", s.Name, err)
				}
			}
		}
	}
	return results, formats, nil, nil
}

// stepItems reads the items of a completed iterator step (want of them,
// from the attempt that completed: an attempt starts its items again from
// 0) and returns them as one list in format f.
func (b *Broker) stepItems(ctx context.Context, queue, id string, want int64, f codec.Format) (codec.Raw, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rd, err := b.ReadItems(ctx, queue, id)
	if err != nil {
		return nil, fmt.Errorf("items of %s: %w", id, err)
	}
	defer rd.Stop()
	var items []codec.Raw
	var formats []codec.Format
	for {
		it, err := rd.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("items of %s: %d of %d read (kept for STRAND_ITEMS_MAX_AGE): %w", id, len(items), want, err)
		}
		if it.End {
			if it.Error == nil && it.Count == want && int64(len(items)) == want {
				return codec.List(f, items, formats)
			}
			continue // an attempt that did not complete; the next one starts again
		}
		if it.N == 0 {
			items, formats = items[:0], formats[:0]
		}
		items = append(items, codec.Raw(it.Data))
		formats = append(formats, it.Format)
	}
}

// Why parentResults found a step not ready.
var (
	errParentRunning = errors.New("a step it runs after has not ended")
	errParentFailed  = errors.New("a step it runs after did not complete")
)

// releaseAll releases steps, at most flowParallel at once, and reports
// whether one of them had ended already.
func (b *Broker) releaseAll(ctx context.Context, fl *codec.Flow, f codec.Format, steps []*codec.FlowStep) (bool, error) {
	var mu sync.Mutex
	var errs []error
	anyEnded := false
	sem := make(chan struct{}, flowParallel)
	var wg sync.WaitGroup
	for _, s := range steps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := b.release(ctx, fl, f, s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			anyEnded = anyEnded || r == ended
		})
	}
	wg.Wait()
	return anyEnded, errors.Join(errs...)
}

// flowParallel bounds the releases one worker makes at once for one step.
const flowParallel = 32

// stepEnvelope is step s's task, its parents' results passed as s asks.
func stepEnvelope(fl *codec.Flow, f codec.Format, s *codec.FlowStep, results []codec.Raw, formats []codec.Format) (*codec.Envelope, error) {
	args, kwargs, err := codec.StepArgs(f, s, results, formats)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Func, err)
	}
	meta := fl.Meta
	if len(s.Meta) > 0 {
		meta = make(map[string]string, len(fl.Meta)+len(s.Meta))
		for k, v := range fl.Meta {
			meta[k] = v
		}
		for k, v := range s.Meta {
			meta[k] = v
		}
	}
	rttl := s.ResultTTLMS
	if rttl == 0 {
		rttl = fl.ResultTTLMS
	}
	return &codec.Envelope{
		V: codec.Version, ID: codec.StepID(fl.ID, s.Name), Func: s.Func, Args: args, Kwargs: kwargs,
		Queue: fl.StepQueue(s), Created: fl.Created, TimeoutMS: s.TimeoutMS, MaxAttempts: s.MaxAttempts,
		ResultTTLMS: rttl, Meta: meta, Flow: &codec.FlowRef{ID: fl.ID, Queue: fl.Queue, Step: s.Name},
	}, nil
}

// failStep records a step that cannot be queued (its parents' results do
// not make a task) as failed, then applies the failure policy.
func (b *Broker) failStep(ctx context.Context, fl *codec.Flow, f codec.Format, s *codec.FlowStep, kind string, cause error) error {
	q, id := fl.StepQueue(s), codec.StepID(fl.ID, s.Name)
	o := &codec.Outcome{Status: strand.StatusFailed, Func: s.Func, Queue: q, Created: fl.Created,
		Finished: time.Now().UnixMilli(), Error: &codec.ErrorInfo{Kind: kind, Message: cause.Error()}}
	data, err := f.Marshal(o)
	if err != nil {
		return err
	}
	_, rttl := flowTTLs(fl)
	if _, err := b.create(ctx, b.names.ResultKey(q, id), data, f, rttl); err != nil && !errors.Is(err, strand.ErrFinished) {
		return fmt.Errorf("fail step %s: %w", s.Name, err)
	}
	return b.afterFailure(ctx, fl, f, s, &Outcome{Outcome: o, Format: f})
}

// cancelSteps writes a cancellation for each of steps that has no outcome:
// a queued step is skipped by its worker, a running one is stopped, and
// one not released yet never will be (a released task whose cancellation
// exists is refused). The cancellations live as long as the workflow may.
func (b *Broker) cancelSteps(ctx context.Context, fl *codec.Flow, f codec.Format, steps []*codec.FlowStep) error {
	outs, err := b.stepOutcomes(ctx, fl, steps)
	if err != nil {
		return fmt.Errorf("flow %s: cancel steps: %w", fl.ID, err)
	}
	taskTTL, rttl := flowTTLs(fl)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, s := range steps {
		if outs[i] != nil {
			continue
		}
		wg.Go(func() {
			q, id := fl.StepQueue(s), codec.StepID(fl.ID, s.Name)
			o := &codec.Outcome{Status: strand.StatusCancelled, Func: s.Func, Queue: q, Created: fl.Created,
				Finished: time.Now().UnixMilli(),
				Error:    &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: s.Func + ": cancelled: workflow " + fl.ID + " ended"}}
			data, err := f.Marshal(o)
			if err == nil {
				_, err = b.create(ctx, b.names.CancelKey(q, id), data, f, taskTTL+rttl)
			}
			if err != nil && !errors.Is(err, strand.ErrFinished) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("cancel step %s: %w", s.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CarryOn is what a worker does once a workflow step's outcome is stored,
// before it answers the step's task: a completed step releases the steps
// that run after it and are now ready; a failed, dead or cancelled one
// applies the workflow's failure policy; and a step that may be the last
// checks whether the workflow has ended. It is idempotent, so a worker
// that dies before the answer leaves the task to be delivered again, and
// the next worker (which finds the outcome) carries on the same way.
//
// known is the outcome the caller stored for the step, if it knows it for
// sure (nil: it is read).
func (b *Broker) CarryOn(ctx context.Context, ref *codec.FlowRef, known *codec.Outcome) error {
	d, err := b.flow(ctx, ref.Queue, ref.ID)
	if err != nil || d == nil {
		return err // a definition that expired has nothing left to carry on
	}
	fl, f := d.fl, d.f
	s, ok := fl.Step(ref.Step)
	if !ok {
		return nil
	}
	if known == nil || known.Status != strand.StatusCompleted {
		// A failure reads the stored outcome: a cancellation may have come first.
		outs, err := b.stepOutcomes(ctx, fl, []*codec.FlowStep{s})
		if err != nil {
			return fmt.Errorf("flow %s: %w", fl.ID, err)
		}
		if outs[0] == nil {
			return fmt.Errorf("flow %s: step %s has no outcome yet", fl.ID, s.Name)
		}
		known = outs[0].Outcome
		if known.Status != strand.StatusCompleted {
			return b.afterFailure(ctx, fl, f, s, outs[0])
		}
	}
	kids := fl.Children(s.Name)
	anyEnded, err := b.releaseAll(ctx, fl, f, kids)
	if err != nil {
		return err
	}
	if len(kids) == 0 || anyEnded {
		return b.checkEnd(ctx, fl, f)
	}
	return nil
}

// afterFailure applies the failure policy to step s, which ended o (failed,
// dead or cancelled): by default the workflow ends failed (cancelled, for
// a cancelled step) naming s, and every step without an outcome is
// cancelled; with OnFailureContinue only the steps that depend on s are,
// and the workflow ends when its other branches have.
func (b *Broker) afterFailure(ctx context.Context, fl *codec.Flow, f codec.Format, s *codec.FlowStep, o *Outcome) error {
	if fl.OnFailure == codec.OnFailureContinue {
		if err := b.cancelSteps(ctx, fl, f, fl.Descendants(s.Name)); err != nil {
			return err
		}
		return b.checkEnd(ctx, fl, f)
	}
	end := failedEnd(s, o)
	taskTTL, rttl := flowTTLs(fl)
	if err := b.endFlow(ctx, fl.Queue, fl.ID, f, end, taskTTL+rttl); err != nil {
		return err
	}
	others := make([]*codec.FlowStep, 0, len(fl.Steps))
	for i := range fl.Steps {
		if fl.Steps[i].Name != s.Name {
			others = append(others, &fl.Steps[i])
		}
	}
	return b.cancelSteps(ctx, fl, f, others)
}

// failedEnd is the end of a workflow that step s ended with o.
func failedEnd(s *codec.FlowStep, o *Outcome) *codec.FlowOutcome {
	st := strand.StatusFailed
	if o.Status == strand.StatusCancelled {
		st = strand.StatusCancelled
	}
	return &codec.FlowOutcome{Status: st, Step: s.Name, Error: o.Error, Finished: time.Now().UnixMilli()}
}

// checkEnd writes the workflow's end if every step has an outcome:
// completed if every final step completed (then so did every other step:
// a step runs only once all before it completed), else failed naming the
// first step that failed (cancelled if none failed but one was cancelled).
// Whoever writes an outcome checks after it, so the last one sees them all.
func (b *Broker) checkEnd(ctx context.Context, fl *codec.Flow, f codec.Format) error {
	if end, err := b.flowEnd(ctx, fl.Queue, fl.ID); err != nil || end != nil {
		return err
	}
	sinks := fl.Sinks()
	outs, err := b.stepOutcomes(ctx, fl, sinks)
	if err != nil {
		return err
	}
	done := true
	for _, o := range outs {
		if o == nil {
			return nil
		}
		done = done && o.Status == strand.StatusCompleted
	}
	taskTTL, rttl := flowTTLs(fl)
	if done {
		return b.endFlow(ctx, fl.Queue, fl.ID, f, &codec.FlowOutcome{Status: strand.StatusCompleted, Finished: time.Now().UnixMilli()}, taskTTL+rttl)
	}
	all := make([]*codec.FlowStep, len(fl.Steps))
	for i := range fl.Steps {
		all[i] = &fl.Steps[i]
	}
	if outs, err = b.stepOutcomes(ctx, fl, all); err != nil {
		return err
	}
	var first, firstCancel int = -1, -1
	for i, o := range outs {
		switch {
		case o == nil:
			return nil
		case o.Status == strand.StatusCancelled:
			if firstCancel < 0 || o.Seq < outs[firstCancel].Seq {
				firstCancel = i
			}
		case o.Status != strand.StatusCompleted:
			if first < 0 || o.Seq < outs[first].Seq {
				first = i
			}
		}
	}
	if first < 0 {
		first = firstCancel
	}
	if first < 0 {
		return nil // cannot be: not every sink completed
	}
	return b.endFlow(ctx, fl.Queue, fl.ID, f, failedEnd(all[first], outs[first]), taskTTL+rttl)
}

// FlowLookup is what the server holds of a workflow.
type FlowLookup struct {
	Def    *codec.Flow        // its definition; nil if it never started (or nothing is known of it)
	Format codec.Format       // the definition's
	End    *codec.FlowOutcome // its end, once it has ended
	Steps  []*Lookup          // each step's, in the order of Def.Steps
}

// LocateFlow finds the queue of workflow id, from its definition, its end
// or its start task: "" if the server holds nothing of it.
func (b *Broker) LocateFlow(ctx context.Context, id string) (string, error) {
	rec, err := b.get(ctx, b.names.Stream(), b.names.KeySubject(b.names.Key(KindFlow, "*", id)))
	if err == nil && rec == nil {
		rec, err = b.get(ctx, b.names.Stream(), b.names.KeySubject(b.names.Key(KindFlowEnd, "*", id)))
	}
	if err != nil {
		return "", err
	}
	if rec != nil {
		_, q, _, _ := b.names.ParseKey(rec.Subject)
		return q, nil
	}
	// Its start task, queued, or with an outcome of its own.
	return b.Locate(ctx, id)
}

// LookFlow reads workflow id of queue: its definition, its end, and each
// step's records (read at once).
func (b *Broker) LookFlow(ctx context.Context, queue, id string) (*FlowLookup, error) {
	d, err := b.flow(ctx, queue, id)
	if err != nil {
		return nil, err
	}
	if d == nil {
		// Never started (its start task got an outcome): only its end is known.
		end, err := b.flowOver(ctx, queue, id)
		return &FlowLookup{End: end}, err
	}
	l := &FlowLookup{Def: d.fl, Format: d.f}
	if l.End, err = b.flowOver(ctx, queue, id); err != nil {
		return nil, err
	}
	l.Steps = make([]*Lookup, len(d.fl.Steps))
	errs := make([]error, len(d.fl.Steps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range d.fl.Steps {
		s := &d.fl.Steps[i]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			l.Steps[i], errs[i] = b.Look(ctx, d.fl.StepQueue(s), codec.StepID(id, s.Name))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// CancelFlow cancels a workflow: its end is written (cancelled), then
// every step without an outcome is cancelled, so running steps stop and
// pending ones never start. A workflow that has ended is refused with
// strand.ErrFinished, an unknown one with strand.ErrNotFound.
func (b *Broker) CancelFlow(ctx context.Context, queue, id string) error {
	d, err := b.flow(ctx, queue, id)
	if err != nil {
		return fmt.Errorf("cancel flow %s: %w", id, err)
	}
	if d == nil {
		return fmt.Errorf("cancel flow %s: %w", id, strand.ErrNotFound)
	}
	fl, f := d.fl, d.f
	end := &codec.FlowOutcome{Status: strand.StatusCancelled, Finished: time.Now().UnixMilli(),
		Error: &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: "flow " + id + ": cancelled by caller"}}
	data, err := f.Marshal(end)
	if err != nil {
		return err
	}
	taskTTL, rttl := flowTTLs(fl)
	if _, err := b.create(ctx, b.names.Key(KindFlowEnd, queue, id), data, f, taskTTL+rttl); err != nil {
		return fmt.Errorf("cancel flow %s: %w", id, err)
	}
	all := make([]*codec.FlowStep, len(fl.Steps))
	for i := range fl.Steps {
		all[i] = &fl.Steps[i]
	}
	return b.cancelSteps(ctx, fl, f, all)
}

// FlowEndSubject is the event of workflow id's end record: a waiter
// subscribes to it before it reads the end.
func (b *Broker) FlowEndSubject(queue, id string) string {
	return b.names.Event(b.names.Key(KindFlowEnd, queue, id))
}

// WaitFlow waits for workflow id's end (or its start task's outcome, as
// startFailed reads it), pushed: it subscribes to the end record's event,
// then reads the record (an end written before the
// subscription is found by the read), then waits for the event — and reads
// again whenever Resync says events may have been lost. It returns when
// ctx ends.
func (b *Broker) WaitFlow(ctx context.Context, queue, id string) (*codec.FlowOutcome, error) {
	type event struct {
		subject string
		data    []byte
	}
	events := make(chan event, 1)
	// One subscription for the end and the start task's outcome or
	// cancellation (the definition's and states' events are skipped).
	sub, err := b.conn.Subscribe(b.names.Event(b.names.Key("*", queue, id)), func(m *nats.Msg) {
		kind, _, _, _ := b.names.ParseKey(m.Subject)
		if IsMarker(m.Header, m.Data) || (kind != KindFlowEnd && kind != KindOutcome && kind != KindCancel) {
			return
		}
		select {
		case events <- event{m.Subject, m.Data}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", id, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = b.conn.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", id, err)
	}
	for {
		resync, _ := b.Resync()
		end, err := b.flowOver(ctx, queue, id)
		if err != nil && !(Transient(err) && ctx.Err() == nil) {
			return nil, err
		}
		if end != nil {
			return end, nil
		}
		retry := time.After(time.Hour)
		if err != nil {
			retry = time.After(100 * time.Millisecond)
		}
		select {
		case ev := <-events:
			if kind, _, _, _ := b.names.ParseKey(ev.subject); kind == KindFlowEnd {
				return codec.DecodeFlowOutcome(ev.data)
			}
			o, err := b.DecodeOutcome(ev.subject, ev.data, 0)
			if err != nil {
				return nil, err
			}
			return startFailed(id, o), nil
		case <-resync:
		case <-retry:
		case <-ctx.Done():
			return nil, fmt.Errorf("flow %s: %w", id, ctx.Err())
		}
	}
}
