package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// This file is the one owner of the task cycle's wire: every JetStream read
// and write of tasks, states, outcomes and cancellations goes through it,
// and each rule of docs/protocol.md lives in one function here.

// Headers strand puts on task and record writes, and the ones it reads.
const (
	// HeaderOwnID marks a task whose id its producer chose: a worker checks
	// that the id has no outcome before it runs such a task.
	HeaderOwnID = "Strand-Own-Id"

	headerKVOperation  = "KV-Operation"
	headerMarkerReason = "Nats-Marker-Reason"
	headerTTL          = "Nats-TTL"
	headerStatus       = "Status"
	headerSequence     = "Nats-Sequence"
	headerTimeStamp    = "Nats-Time-Stamp"
	headerSubject      = "Nats-Subject"
	// headerExpectedSubject names the subject (wildcards allowed) that
	// Nats-Expected-Last-Subject-Sequence checks instead of the message's own.
	headerExpectedSubject = "Nats-Expected-Last-Subject-Sequence-Subject"
)

// Record is one stored message: a queued task or a record of the bucket.
type Record struct {
	Subject string
	Data    []byte
	Header  nats.Header
	Seq     uint64    // its stream sequence: records of one task compare by it
	Time    time.Time // when the server stored it
}

// Format is the record's encoding, from its Content-Type header; a record
// without one is msgpack.
func (r *Record) Format() (codec.Format, error) {
	return codec.ParseContentType(r.Header.Get(codec.HeaderContentType))
}

// Expires is when the record's own TTL (Nats-TTL) ends; zero if it has none.
func (r *Record) Expires() time.Time {
	ttl, err := parseTTL(r.Header.Get(headerTTL))
	if err != nil || ttl <= 0 {
		return time.Time{}
	}
	return r.Time.Add(ttl)
}

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// IsMarker reports whether a stored message (or its event) is a marker,
// not a record: a KV delete or purge, or the server's mark of an expired
// key. docs/protocol.md states the rule; this is its one implementation.
func IsMarker(h nats.Header, data []byte) bool {
	return len(data) == 0 || h.Get(headerKVOperation) != "" || h.Get(headerMarkerReason) != ""
}

// get reads the last message of subject in stream (a wildcard subject finds
// the last of those it matches) with a direct get, which any replica
// answers. It returns nil, nil when there is none, and skips markers.
func (b *Broker) get(ctx context.Context, stream, subject string) (*Record, error) {
	rec, err := b.getLast(ctx, stream, subject)
	if rec != nil && IsMarker(rec.Header, rec.Data) {
		return nil, err
	}
	return rec, err
}

// getLast is get with markers: the last message of subject, whatever it is.
func (b *Broker) getLast(ctx context.Context, stream, subject string) (rec *Record, err error) {
	// A cluster electing a leader answers no reads for a moment.
	err = retryTransient(ctx, func() (err error) {
		rec, err = b.directGet(ctx, stream, subject)
		return err
	})
	return rec, err
}

// readTimeout bounds one read's wait for its answer. Any replica may answer
// a direct get; one that stops as it takes the request never does, and a
// read that waited for the caller's deadline would end a Result there:
// getLast asks again instead.
const readTimeout = 3 * time.Second

func (b *Broker) directGet(ctx context.Context, stream, subject string) (*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ctx, stop := b.refusable(ctx, "$JS.API.DIRECT.GET."+stream+"."+subject)
	defer stop()
	m, err := b.conn.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream+"."+subject, nil)
	if err = refused(ctx, err); err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("read %s: %w (does stream %s exist?)", subject, err, stream)
		}
		return nil, fmt.Errorf("read %s: %w", subject, err)
	}
	switch st := m.Header.Get(headerStatus); st {
	case "":
	case "404":
		return nil, nil
	case "408", "503":
		return nil, fmt.Errorf("read %s: %w", subject, jetstream.ErrNoStreamResponse)
	default:
		return nil, fmt.Errorf("read %s: status %s %s", subject, st, m.Header.Get("Description"))
	}
	rec := &Record{Subject: m.Header.Get(headerSubject), Data: m.Data, Header: m.Header}
	rec.Seq, _ = strconv.ParseUint(m.Header.Get(headerSequence), 10, 64)
	rec.Time, _ = time.Parse(time.RFC3339Nano, m.Header.Get(headerTimeStamp))
	return rec, nil
}

// TTL bounds. The server refuses a per-message TTL under a second (err
// 10165); docs/protocol.md states what a worker does with a TTL out of bounds.
const (
	MinTTL       = time.Second
	MaxResultTTL = 365 * 24 * time.Hour
)

// ClampResultTTL bounds a result TTL that arrived on the wire (in ms; 0
// or less means def).
func ClampResultTTL(ms int64, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	if ms > MaxResultTTL.Milliseconds() {
		return MaxResultTTL
	}
	return max(time.Duration(ms)*time.Millisecond, MinTTL)
}

// A Task is a task encoded for its queue.
type Task struct {
	Queue, ID string
	Func      string
	Trace     string
	Format    codec.Format
	Data      []byte        // the encoded envelope
	TTL       time.Duration // the longest it may wait in its queue
	OwnID     bool          // the producer chose the id (an idempotency key)
	Created   int64         // the envelope's created (unix ms): tells its outcome from an earlier task's
	MsgID     string        // Nats-Msg-Id: a second publish within the stream's duplicate window is dropped
	// At delays the task: it is kept as a schedule of the server's until
	// then (zero: queued now). A time not after now queues it now.
	At time.Time

	relayed bool   // a firing a worker moves into its queue (Relay)
	Lane    string // its priority lane: LaneHigh, LaneLow, or "" (normal)
}

// headroom is what a message needs beyond its payload: subject and headers.
const headroom = 512

// MaxRecord is the largest payload a task, result or item may have: the
// server's max_payload less room for subject and headers. Past it a task
// is refused at submit and a result or item fails its task (too_large).
func (b *Broker) MaxRecord() int64 { return b.MaxPayload() - headroom }

func (b *Broker) taskMsg(t *Task) (*nats.Msg, error) {
	if max := b.MaxRecord(); int64(len(t.Data)) > max {
		return nil, fmt.Errorf("%w: the task is %d bytes, the server accepts %d", strand.ErrTooLarge, len(t.Data), max)
	}
	if t.TTL < MinTTL {
		return nil, fmt.Errorf("%w: task TTL %v is under the server's minimum of %v", strand.ErrBadOption, t.TTL, MinTTL)
	}
	msg := &nats.Msg{Subject: b.names.LaneSubject(t.Queue, t.Lane, t.ID), Data: t.Data, Header: nats.Header{}}
	if t.Lane != "" {
		// The stream refuses a second task on the lane's subject by itself;
		// this makes it refuse one whose id is queued in any queue or lane
		// (docs/protocol.md, "Priorities").
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		msg.Header.Set(headerExpectedSubject, b.names.IDSubjects(t.ID))
	}
	msg.Header.Set(codec.HeaderContentType, t.Format.ContentType())
	msg.Header.Set(codec.HeaderFunc, t.Func)
	if t.Trace != "" {
		msg.Header.Set(codec.HeaderTrace, t.Trace)
	}
	if t.OwnID {
		msg.Header.Set(HeaderOwnID, "1")
	}
	if t.MsgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, t.MsgID)
	}
	return msg, nil
}

// Submit queues tasks: one publish each to its own subject of the tasks
// stream, all sent before any answer is awaited, so that a batch — and
// concurrent callers of Submit, whose publishes share the connection's
// pipeline — cost about one round trip. The stream holds one message per
// subject and refuses a second (DiscardNewPerSubject), so a task whose id
// is queued or running is refused by the server itself; a task whose
// producer chose its id is also refused while the id's outcome is kept.
// Writes whose fate is unknown (a connection failing over, a stream
// electing a leader) are sent again until ctx ends; one that was stored
// after all is recognised by its bytes. It returns an error per task:
// wrapping strand.ErrDuplicate, strand.ErrTooLarge, or the cause.
func (b *Broker) Submit(ctx context.Context, tasks ...*Task) []error {
	errs := make([]error, len(tasks))
	msgs := make([]*nats.Msg, len(tasks))
	futs := make([]*Write, len(tasks))
	var sent []int
	refusals, stop := b.denials.watch(nil)
	defer stop()
	for i, t := range tasks {
		if t.At.After(time.Now()) {
			errs[i] = b.submitDelayed(ctx, t)
			continue
		}
		msg, err := b.taskMsg(t)
		if err == nil && t.OwnID {
			err = b.idFree(ctx, t.Queue, t.ID, t.Lane)
		}
		if err == nil && t.OwnID && !t.relayed {
			err = b.scheduledFree(ctx, t.Queue, t.ID)
		}
		if err == nil && testHookIDFree != nil {
			testHookIDFree(t)
		}
		if err == nil {
			refusals.add(msg.Subject)
			futs[i], err = b.publishAsync(msg)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		msgs[i] = msg
		sent = append(sent, i)
	}
	wait := 50 * time.Millisecond
	for retried := false; len(sent) > 0; retried = true {
		var again []int
		for _, i := range sent {
			// An answer lost with a stream leader or a connection comes
			// back as errFateUnknown (Answer): the task is sent again.
			_, err := b.answer(ctx, futs[i], refusals.of(msgs[i].Subject))
			if err == nil {
				continue
			}
			switch {
			case perSubjectFull(err), tasks[i].Lane != "" && wrongLastSeq(err):
				if retried && b.stored(ctx, msgs[i]) {
					continue // an earlier try was stored after all
				}
				errs[i] = fmt.Errorf("%w: %s", strand.ErrDuplicate, tasks[i].ID)
			case Transient(err) && ctx.Err() == nil:
				again = append(again, i)
			case errors.Is(err, nats.ErrMaxPayload):
				errs[i] = fmt.Errorf("%w: %v", strand.ErrTooLarge, err)
			default:
				errs[i] = refusal(err, "queue "+tasks[i].Queue)
			}
		}
		if len(again) > 0 {
			select {
			case <-ctx.Done():
				for _, i := range again {
					errs[i] = ctx.Err()
				}
				again = nil
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
		for _, i := range again {
			var err error
			if futs[i], err = b.publishAsync(msgs[i]); err != nil {
				errs[i] = err
			}
		}
		sent = again[:0:0]
		for _, i := range again {
			if errs[i] == nil {
				sent = append(sent, i)
			}
		}
	}
	b.finishedBefore(ctx, tasks, errs)
	return errs
}

// testHookIDFree, set by tests, runs between the id checks and the publish.
var testHookIDFree func(*Task)

// finishedBefore refuses, after the fact, a task of a chosen id that was
// stored although an earlier task of that id has an outcome: idFree read no
// outcome, but the earlier task's worker wrote it and acked between that
// read and the publish. The stored copy never runs (its worker finds the
// outcome and answers it from there); the caller is told ErrDuplicate, as
// it would have been a moment earlier. An outcome of the task just stored
// (it may run that fast) has its created time and is no refusal.
func (b *Broker) finishedBefore(ctx context.Context, tasks []*Task, errs []error) {
	for i, t := range tasks {
		if errs[i] != nil || !t.OwnID || t.relayed || t.Created == 0 || t.At.After(time.Now()) {
			continue
		}
		if o, err := b.Outcome(ctx, t.Queue, t.ID); err == nil && o != nil && o.Created != t.Created {
			errs[i] = fmt.Errorf("%w: %s (%s)", strand.ErrDuplicate, t.ID, o.Status)
		}
	}
}

// perSubjectFull reports whether a publish was refused because its subject
// holds a message already (DiscardNewPerSubject, err_code 10077; the
// server answers it with status 503, so check it before Transient).
func perSubjectFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed &&
		strings.Contains(apiErr.Description, "maximum messages per subject")
}

// refusal makes a permission violation say so.
func refusal(err error, what string) error {
	if err != nil && !errors.Is(err, strand.ErrForbidden) && strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		return fmt.Errorf("%w: %s: %v", strand.ErrForbidden, what, err)
	}
	return err
}

// stored reports whether the queued task of msg's subject holds msg's bytes.
func (b *Broker) stored(ctx context.Context, msg *nats.Msg) bool {
	rec, err := b.get(ctx, b.names.TasksStream(), msg.Subject)
	return err == nil && rec != nil && string(rec.Data) == string(msg.Data)
}

// idFree refuses an id whose outcome or cancellation is kept, and, for a
// normal task (lane ""), one queued in a priority or fair lane of its queue: the
// server refuses a lane's publish while the id is queued anywhere, but not
// a normal publish while the id waits in a lane.
func (b *Broker) idFree(ctx context.Context, queue, id, lane string) error {
	o, err := b.Outcome(ctx, queue, id)
	if err != nil {
		return err
	}
	if o != nil {
		return fmt.Errorf("%w: %s (%s)", strand.ErrDuplicate, id, o.Status)
	}
	if lane == "" {
		recs, err := b.getAll(ctx, b.queuedReads(queue, id)[1:]...)
		if err != nil {
			return err
		}
		rec := firstRecord(recs...)
		if rec == nil {
			if rec, err = b.queuedFair(ctx, queue, id); err != nil {
				return err
			}
		}
		if rec != nil {
			return fmt.Errorf("%w: %s (queued in another lane)", strand.ErrDuplicate, id)
		}
	}
	return nil
}

// Queued reads the task of queue with id as it waits in its queue (or runs),
// in whichever priority lane: nil once it has been answered, or if it never
// existed.
func (b *Broker) Queued(ctx context.Context, queue, id string) (*Record, error) {
	recs, err := b.getAll(ctx, b.queuedReads(queue, id)...)
	if err != nil {
		return nil, err
	}
	if rec := firstRecord(recs...); rec != nil {
		return rec, nil
	}
	return b.queuedFair(ctx, queue, id)
}

// queuedFair reads the task in the fair lanes of its queue (a second round
// trip, made only for a task found in no other lane).
func (b *Broker) queuedFair(ctx context.Context, queue, id string) (*Record, error) {
	reads := make([]read, 0, FairLanes)
	for _, l := range FairLaneNames {
		reads = append(reads, read{b.names.TasksStream(), b.names.LaneSubject(queue, l, id)})
	}
	recs, err := b.getAll(ctx, reads...)
	if errors.Is(err, strand.ErrForbidden) {
		return nil, nil // a user confined to the other lanes: no fair task of its queue
	}
	if err != nil {
		return nil, err
	}
	return firstRecord(recs...), nil
}

// queuedReads are the reads of a task's subject in each lane of its queue.
func (b *Broker) queuedReads(queue, id string) []read {
	n := b.names
	return []read{
		{n.TasksStream(), n.TaskSubject(queue, id)},
		{n.TasksStream(), n.LaneSubject(queue, LaneHigh, id)},
		{n.TasksStream(), n.LaneSubject(queue, LaneLow, id)},
	}
}

// firstRecord is the first of recs that is not nil.
func firstRecord(recs ...*Record) *Record {
	for _, r := range recs {
		if r != nil {
			return r
		}
	}
	return nil
}

// Locate finds the queue of task id when the caller does not know it, from
// any record of it the server holds: "" if there is none.
func (b *Broker) Locate(ctx context.Context, id string) (string, error) {
	rec, err := b.get(ctx, b.names.Stream(), b.names.KeySubject(b.names.Key("*", "*", id)))
	if err != nil {
		return "", err
	}
	if rec != nil {
		if _, q, _, ok := b.names.ParseKey(rec.Subject); ok {
			return q, nil
		}
	}
	if rec, err = b.get(ctx, b.names.TasksStream(), b.names.TaskSubject("*", id)); err != nil || rec == nil {
		if err != nil {
			return "", err
		}
		return b.locateScheduled(ctx, id)
	}
	q, _, _ := b.names.ParseTaskSubject(rec.Subject)
	return q, nil
}

// Outcome is a task's final record as the protocol reads it: the first one
// written of its outcome (by a worker) and its cancellation (by a
// canceller). A cancellation always reads as cancelled, whatever its
// writer put in it: only a queue's workers write outcomes.
type Outcome struct {
	*codec.Outcome
	Format codec.Format
	Seq    uint64
}

// Outcome reads the task's outcome; nil while it has none.
func (b *Broker) Outcome(ctx context.Context, queue, id string) (*Outcome, error) {
	recs, err := b.getAll(ctx,
		read{b.names.Stream(), b.names.KeySubject(b.names.ResultKey(queue, id))},
		read{b.names.Stream(), b.names.KeySubject(b.names.CancelKey(queue, id))})
	if err != nil {
		return nil, err
	}
	return b.firstOutcome(recs[0], recs[1])
}

// read is one direct get: the last message of subject in stream.
type read struct{ stream, subject string }

// getAll makes the reads at once (one round trip for all, not one each)
// and returns their records in order, nil for those that have none.
func (b *Broker) getAll(ctx context.Context, reads ...read) ([]*Record, error) {
	recs := make([]*Record, len(reads))
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, r := range reads[1:] {
		wg.Go(func() { recs[i+1], errs[i+1] = b.get(ctx, r.stream, r.subject) })
	}
	recs[0], errs[0] = b.get(ctx, reads[0].stream, reads[0].subject)
	wg.Wait()
	return recs, errors.Join(errs...)
}

// firstOutcome decodes the winner of a task's outcome r and cancellation c
// (either may be nil): nil if both are.
func (b *Broker) firstOutcome(r, c *Record) (*Outcome, error) {
	if r == nil && c == nil {
		return nil, nil
	}
	rec := r
	if r == nil || (c != nil && c.Seq < r.Seq) {
		rec = c
	}
	return b.DecodeOutcome(rec.Subject, rec.Data, rec.Seq)
}

// DecodeOutcome decodes the record (or its event) on subject as the task's
// outcome; seq is its stream sequence, if known.
func (b *Broker) DecodeOutcome(subject string, data []byte, seq uint64) (*Outcome, error) {
	kind, queue, id, _ := b.names.ParseKey(subject)
	o, f, err := codec.DecodeOutcome(data)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	if kind == KindCancel {
		o.Status, o.Result = strand.StatusCancelled, nil
		if o.Error == nil || o.Error.Kind != string(strand.ErrCancelled) {
			o.Error = &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: "cancelled by caller"}
		}
	}
	if o.Queue == "" {
		o.Queue = queue
	}
	return &Outcome{Outcome: o, Format: f, Seq: seq}, nil
}

func (b *Broker) record(ctx context.Context, key string) (*Record, error) {
	return b.get(ctx, b.names.Stream(), b.names.KeySubject(key))
}

// State reads the task's state record; nil if it has none.
func (b *Broker) State(ctx context.Context, queue, id string) (*codec.State, error) {
	rec, err := b.record(ctx, b.names.StateKey(queue, id))
	if err != nil || rec == nil {
		return nil, err
	}
	return codec.DecodeState(rec.Data)
}

// Lookup is what the server holds of one task, read in the protocol's order.
type Lookup struct {
	Queue   string
	Outcome *Outcome        // its outcome, if it has one: then nothing else is read
	Task    *codec.Envelope // its envelope while it is queued or running
	State   *codec.State    // its state while it is queued or running, if any
	Format  codec.Format    // the envelope's
	Expires time.Time       // when the queued task expires unrun
	// Scheduled: the task is delayed until RunAt, kept by the server as a
	// schedule; Task is its envelope.
	Scheduled bool
	RunAt     time.Time
	Lane      string // the priority lane it waits in ("" = normal)
}

// Status is the task's status: the outcome's, else the state's, pending
// while it is queued, and strand.StatusUnknown when nothing is left.
func (l *Lookup) Status() strand.Status {
	switch {
	case l.Outcome != nil:
		return l.Outcome.Status
	case l.Task == nil:
		return strand.StatusUnknown
	case l.Scheduled:
		return strand.StatusScheduled
	case l.State != nil:
		return l.State.Status
	}
	return strand.StatusPending
}

// Look reads what the server holds of task id in queue ("" when unknown:
// it is located first). The order makes the answer true for every order of
// events: a worker writes the outcome before it answers the task, so a
// task that is no longer queued has its outcome, unless that expired.
func (b *Broker) Look(ctx context.Context, queue, id string) (*Lookup, error) {
	if queue == "" {
		q, err := b.Locate(ctx, id)
		if err != nil || q == "" {
			return &Lookup{}, err
		}
		queue = q
	}
	// The four reads go at once; the order they are answered in does not
	// matter: an outcome wins, and a task no longer queued without one is
	// read again below.
	n := b.names
	recs, err := b.getAll(ctx, append([]read{
		{n.Stream(), n.KeySubject(n.ResultKey(queue, id))},
		{n.Stream(), n.KeySubject(n.CancelKey(queue, id))},
		{n.Stream(), n.KeySubject(n.StateKey(queue, id))}},
		b.queuedReads(queue, id)...)...)
	if err != nil {
		return nil, err
	}
	l := &Lookup{Queue: queue}
	if l.Outcome, err = b.firstOutcome(recs[0], recs[1]); err != nil || l.Outcome != nil {
		return l, err
	}
	rec := firstRecord(recs[3:]...)
	if rec == nil && recs[0] == nil && recs[1] == nil {
		// Not in the normal or priority lanes: perhaps in a fair lane.
		if rec, err = b.queuedFair(ctx, queue, id); err != nil {
			return nil, err
		}
	}
	if rec == nil {
		// Answered between the reads, or gone: read the outcome again;
		// else it may not be queued yet (delayed, or due).
		if l.Outcome, err = b.Outcome(ctx, queue, id); err != nil || l.Outcome != nil {
			return l, err
		}
		return b.lookScheduled(ctx, l, id)
	}
	b.fillTask(l, id, rec)
	_, l.Lane, _, _ = n.ParseLaneSubject(rec.Subject)
	if st := recs[2]; st != nil {
		if l.State, err = codec.DecodeState(st.Data); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Cancel cancels a queued or running task: it writes the task's
// cancellation record create-only, and the queue's workers, who follow
// those records, stop the handler if it runs and never start it if it has
// not. The record lives as long as the task could still be delivered, and
// at least resultTTL. A task that has an outcome is refused with
// strand.ErrFinished, one that has no record with strand.ErrNotFound; so is
// a task that finished while it was being cancelled.
func (b *Broker) Cancel(ctx context.Context, queue, id string, resultTTL time.Duration) error {
	return b.CancelBecause(ctx, queue, id, resultTTL, "cancelled by caller", false)
}

// CancelBecause is Cancel with the reason the cancellation gives ("<func>:
// <reason>"); pendingOnly leaves a task alone, with strand.ErrFinished,
// once a worker has started it.
func (b *Broker) CancelBecause(ctx context.Context, queue, id string, resultTTL time.Duration, reason string, pendingOnly bool) error {
	l, err := b.Look(ctx, queue, id)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	if l.Outcome != nil {
		return fmt.Errorf("cancel %s: %w (%s)", id, strand.ErrFinished, l.Outcome.Status)
	}
	if l.Task == nil {
		return fmt.Errorf("cancel %s: %w", id, strand.ErrNotFound)
	}
	if pendingOnly && l.State != nil {
		return fmt.Errorf("cancel %s: %w (%s)", id, strand.ErrFinished, l.State.Status)
	}
	env := l.Task
	ttl := ClampResultTTL(env.ResultTTLMS, resultTTL)
	if left := time.Until(l.Expires); left > ttl {
		ttl = left
	}
	o := &codec.Outcome{
		Status: strand.StatusCancelled, Func: env.Func, Queue: l.Queue, Created: env.Created, Meta: env.Meta,
		Error:    &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: env.Func + ": " + reason},
		Finished: time.Now().UnixMilli(),
	}
	data, err := l.Format.Marshal(o)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	seq, err := b.create(ctx, b.names.CancelKey(l.Queue, id), data, l.Format, ttl)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	// The task may have finished between the read and the write: then its
	// outcome came first, and stands.
	if first, err := b.Outcome(ctx, l.Queue, id); err == nil && first != nil && first.Seq < seq {
		return fmt.Errorf("cancel %s: %w (%s)", id, strand.ErrFinished, first.Status)
	}
	if l.Scheduled {
		// It never fires; if it fired meanwhile, its worker finds the
		// cancellation and acks it without running it.
		if err := b.unschedule(ctx, l.Queue, id); err != nil {
			return fmt.Errorf("cancel %s: cancelled, but its schedule stays until it fires: %w", id, err)
		}
	}
	if env.Unique == UniqueUntilFinished && env.Key != "" {
		// The task has ended: so has the uniqueness it held.
		_ = b.ReleaseUnique(ctx, l.Queue, env.Key, id)
	}
	return nil
}

// UniqueUntilFinished is the envelope's "unique" for a key held until the
// task finishes (its workers release it then); "for" holds it a window.
const UniqueUntilFinished = "finished"

// create writes key create-only with a TTL and returns its sequence.
func (b *Broker) create(ctx context.Context, key string, data []byte, f codec.Format, ttl time.Duration) (uint64, error) {
	msg := b.recordMsg(key, data, f)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	msg.Header.Set(headerTTL, ttl.String())
	seq, created, err := b.createOver(ctx, msg)
	if err != nil {
		return 0, refusal(err, key)
	}
	if !created {
		return 0, fmt.Errorf("%w: %s exists", strand.ErrFinished, key)
	}
	return seq, nil
}

// createOver writes msg, a create-only write, and waits for it, sending it
// again while a retry can fix its failure. A refusal because the subject's
// last message is only a marker (a record that expired or was purged; the
// server keeps the marker a minute) is not an existing record: the write
// goes again over the marker. It reports the stored sequence, and created =
// false when a record exists already.
func (b *Broker) createOver(ctx context.Context, msg *nats.Msg) (seq uint64, created bool, err error) {
	ctx, stop := b.refusable(ctx, msg.Subject)
	defer func() { err = refused(ctx, err); stop() }()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ack, err := b.publishOnce(ctx, msg)
		switch {
		case err == nil:
			return ack.Sequence, true, nil
		case wrongLastSeq(err):
			last, gerr := b.getLast(ctx, b.names.Stream(), msg.Subject)
			if gerr != nil {
				return 0, false, gerr
			}
			if last != nil && !IsMarker(last.Header, last.Data) {
				if bytes.Equal(last.Data, msg.Data) {
					// An earlier try of this write, stored although its
					// answer was lost: ours.
					return last.Seq, true, nil
				}
				return 0, false, nil
			}
			var after uint64
			if last != nil {
				after = last.Seq
			}
			msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(after, 10))
			continue
		case !Transient(err) || ctx.Err() != nil:
			return 0, false, err
		}
		select {
		case <-ctx.Done():
			return 0, false, err
		case <-time.After(wait):
		}
	}
}

func (b *Broker) recordMsg(key string, data []byte, f codec.Format) *nats.Msg {
	msg := &nats.Msg{Subject: b.names.KeySubject(key), Data: data, Header: nats.Header{}}
	msg.Header.Set(codec.HeaderContentType, f.ContentType())
	return msg
}

// publishRetrying publishes msg and waits for its answer, sending it again
// while a retry can fix its failure (Transient), until ctx ends.
func (b *Broker) publishRetrying(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (ack *jetstream.PubAck, err error) {
	ctx, stop := b.refusable(ctx, msg.Subject)
	defer func() { err = refused(ctx, err); stop() }()
	err = retryTransient(ctx, func() (err error) {
		ack, err = b.publishOnce(ctx, msg, opts...)
		return err
	})
	return ack, err
}

// writeTimeout bounds one write's wait for its answer. A stream leader
// that stops as it takes a write never answers it (nor does nats.go fail
// it, when the connection stays up): the write is sent again after this
// instead of after the caller's whole deadline. Each retried write is
// create-only, or one whose second copy changes nothing.
const writeTimeout = 5 * time.Second

// publishOnce publishes msg and waits for its answer: up to writeTimeout,
// and not past a Resync after it was sent (Answer).
func (b *Broker) publishOnce(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	w, err := b.publishAsync(msg, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return b.Answer(ctx, w)
}

// A Write is a record write in flight: its answer to come (Answer), and
// how many times answers had been lost when it was sent (answerMark).
type Write struct {
	jetstream.PubAckFuture
	mark uint64
}

// publishAsync sends msg without waiting for its answer.
func (b *Broker) publishAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (*Write, error) {
	mark := b.answerMark()
	f, err := b.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return nil, err
	}
	return &Write{PubAckFuture: f, mark: mark}, nil
}

// WriteOutcome sends a task's outcome, create-only, with the result TTL,
// without waiting: the answer comes on the returned Write. An outcome that
// exists already stands (Exists tells that refusal apart).
func (b *Broker) WriteOutcome(queue, id string, data []byte, f codec.Format, ttl time.Duration) (*Write, error) {
	return b.publishAsync(b.recordMsg(b.names.ResultKey(queue, id), data, f),
		jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(ttl))
}

// WriteState sends a task's state record with the result TTL, without waiting.
func (b *Broker) WriteState(queue, id string, data []byte, f codec.Format, ttl time.Duration) (*Write, error) {
	return b.publishAsync(b.recordMsg(b.names.StateKey(queue, id), data, f), jetstream.WithMsgTTL(ttl))
}

// Settle finishes a create-only write whose answer was an error: it sends
// it again while a retry can fix that (a cluster failing over), and over a
// marker left where an earlier record expired, until ctx ends. It reports
// whether the record is now stored, or a record exists already: either
// way the write's task is answered.
func (b *Broker) Settle(ctx context.Context, w *Write, err error) bool {
	if !Transient(err) && !wrongLastSeq(err) {
		return false
	}
	msg := w.Msg()
	if msg.Header.Get(jetstream.ExpectedLastSubjSeqHeader) == "" {
		_, err := b.publishRetrying(ctx, msg)
		return err == nil
	}
	_, _, err = b.createOver(ctx, msg)
	return err == nil
}

func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return errors.Is(err, jetstream.ErrKeyExists)
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Purge removes a finished task's records now instead of at their TTLs:
// its outcome, cancellation, state and streamed items. Its purge markers
// expire after a minute; the id is free at once (create-only writes go
// over a marker).
func (b *Broker) Purge(ctx context.Context, queue, id string) error {
	for _, kind := range []string{KindOutcome, KindCancel, KindState} {
		key := b.names.Key(kind, queue, id)
		m := &nats.Msg{Subject: b.names.KeySubject(key), Header: nats.Header{}}
		m.Header.Set(headerKVOperation, "PURGE")
		m.Header.Set("Nats-Rollup", "sub")
		if _, err := b.publishRetrying(ctx, m, jetstream.WithMsgTTL(markerTTL)); err != nil {
			return fmt.Errorf("purge %s: %s: %w", id, key, refusal(err, key))
		}
	}
	if err := b.PurgeItems(ctx, queue, id); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("purge %s: items: %w", id, err)
	}
	return nil
}

// Cancellations lists the ids of queue's tasks with a cancellation record:
// a worker reads them when it starts, then follows new ones as events.
func (b *Broker) Cancellations(ctx context.Context, queue string) ([]string, error) {
	ctx, stop := b.refusable(ctx, "$JS.API.CONSUMER.CREATE."+b.names.Stream()+".>", "$JS.API.CONSUMER.MSG.NEXT."+b.names.Stream()+".*")
	defer stop()
	cons, err := b.js.OrderedConsumer(ctx, b.names.Stream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.names.KeySubject(b.names.CancelKey(queue, "*"))},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    true,
	})
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("read cancellations of %s: %w", queue, err)
	}
	info := cons.CachedInfo()
	var ids []string
	if info.NumPending == 0 {
		return nil, nil
	}
	left := info.NumPending
	for left > 0 {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return ids, fmt.Errorf("read cancellations of %s: %w", queue, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, _ := m.Metadata()
			if meta != nil {
				left = meta.NumPending
			}
			if m.Headers().Get(headerKVOperation) != "" || m.Headers().Get(headerMarkerReason) != "" {
				continue
			}
			if _, _, id, ok := b.names.ParseKey(m.Subject()); ok {
				ids = append(ids, id)
			}
		}
		cancel()
		if err := refused(ctx, batch.Error()); errors.Is(err, strand.ErrForbidden) {
			return ids, fmt.Errorf("read cancellations of %s: %w", queue, err)
		}
		if n == 0 {
			break
		}
	}
	return ids, nil
}

// errCodeStoreFailed is JetStream's err_code for a store that refused a
// message (JSStreamStoreFailedF), nats.go has no constant for it.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// Read returns the record of key in the bucket, or nil if it has none.
func (b *Broker) Read(ctx context.Context, key string) (*Record, error) { return b.record(ctx, key) }
