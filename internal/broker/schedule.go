package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// This file is the wire of time: delayed tasks and named schedules, kept by
// the server as ADR-51 message schedules in the stream <PREFIX>_SCHEDULES
// (docs/protocol.md, "Delayed tasks and schedules"). The server fires them
// with no strand process alive; a worker of the queue moves each firing
// into the tasks stream (Relay), as the task it stands for.

// Headers of schedule messages (and of their firings, which keep them).
const (
	// HeaderTaskTTL is the task TTL a delayed task or a schedule's firing
	// gets once it is queued.
	HeaderTaskTTL = "Strand-Task-TTL"
	// HeaderSchedule is a named schedule's spec as its creator gave it.
	HeaderSchedule = "Strand-Schedule"
	// HeaderScheduleTZ is a named schedule's time zone, if it has one.
	HeaderScheduleTZ = "Strand-Schedule-TZ"
	// HeaderPaused marks a paused schedule: its message has no Nats-Schedule.
	HeaderPaused = "Strand-Paused"

	headerSchedule       = "Nats-Schedule"
	headerScheduleTarget = "Nats-Schedule-Target"
	headerScheduleTTL    = "Nats-Schedule-TTL"
	headerScheduleTZ     = "Nats-Schedule-Time-Zone"
	headerScheduleNext   = "Nats-Schedule-Next"
	headerRollup         = "Nats-Rollup"
)

// Kinds of subjects of the schedules stream: <prefix>.sched.<kind>.<queue>.<name>,
// and for firings <prefix>.sched.fire.<queue>.<kind>.<name>, so that one
// filter (<prefix>.sched.fire.<queue>.>) is a queue's firings.
const (
	SchedDelayed = "at"   // a delayed task's schedule (@at), name = the task id
	SchedDue     = "due"  // its firing: the task, due, until a worker queues it
	SchedCron    = "cron" // a named schedule, name = the schedule's name
	SchedTick    = "tick" // one firing of a named schedule, until a worker queues it
	SchedLast    = "last" // the last firing a worker queued: {task, fired, next}
)

// SchedulesStream is the stream of delayed tasks and named schedules.
func (n Names) SchedulesStream() string { return n.bucket + "_SCHEDULES" }

// ScheduleSubjects matches every subject of the schedules stream.
func (n Names) ScheduleSubjects() string { return n.prefix + ".sched.>" }

// SchedSubject is <prefix>.sched.<kind>.<queue>.<name>, or for a firing
// (SchedDue, SchedTick) <prefix>.sched.fire.<queue>.<kind>.<name>.
func (n Names) SchedSubject(kind, queue, name string) string {
	if kind == SchedDue || kind == SchedTick {
		return n.prefix + ".sched.fire." + queue + "." + kind + "." + name
	}
	return n.prefix + ".sched." + kind + "." + queue + "." + name
}

// FiringsFilter matches the firings of queue: its relay consumer's filter.
func (n Names) FiringsFilter(queue string) string { return n.prefix + ".sched.fire." + queue + ".>" }

// ParseSchedSubject splits a subject of the schedules stream.
func (n Names) ParseSchedSubject(s string) (kind, queue, name string, ok bool) {
	rest, found := strings.CutPrefix(s, n.prefix+".sched.")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) == 4 && parts[0] == "fire" {
		parts = []string{parts[2], parts[1], parts[3]}
	}
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// RelayConsumer is the durable consumer a queue's workers move firings with.
func (n Names) RelayConsumer(queue string) string { return n.prefix + "-sched-" + queue }

// ErrNoSchedules wraps the reason a deployment cannot keep delayed tasks
// and schedules (a server before 2.14, or a stream that cannot be migrated).
var ErrNoSchedules = errors.New("strand: message schedules unavailable")

// schedState is what provisioning found of the schedules stream.
type schedState struct {
	mu  sync.Mutex
	err error // nil once the stream is usable
	set bool
}

func (b *Broker) setSchedules(err error) {
	b.sched.mu.Lock()
	b.sched.err, b.sched.set = err, true
	b.sched.mu.Unlock()
}

// SchedulesReady is nil when delayed tasks and schedules can be used, else
// an error wrapping ErrNoSchedules that says why and what to do.
func (b *Broker) SchedulesReady() error {
	b.sched.mu.Lock()
	defer b.sched.mu.Unlock()
	if !b.sched.set {
		return fmt.Errorf("%w: the stream %s is not provisioned yet", ErrNoSchedules, b.names.SchedulesStream())
	}
	return b.sched.err
}

func (b *Broker) schedulesConfig() jetstream.StreamConfig {
	n := b.names
	return jetstream.StreamConfig{
		Name:        n.SchedulesStream(),
		Description: "strand delayed tasks (at./due.<queue>.<id>) and schedules (cron./tick./last.<queue>.<name>), fired by the server",
		Subjects:    []string{n.ScheduleSubjects()},
		// A work queue: a worker's ack of a firing removes it; schedules
		// and last-run records match no consumer and stay.
		Retention:         jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject: 1,
		AllowRollup:       true,
		AllowMsgTTL:       true,
		AllowMsgSchedules: true,
		AllowDirect:       true,
		Storage:           jetstream.FileStorage,
		Replicas:          b.cfg.Replicas,
	}
}

// provisionSchedules creates the schedules stream, or migrates one made
// without message schedules. A failure is kept (SchedulesReady), not
// returned: a deployment that cannot schedule still runs its tasks.
func (b *Broker) provisionSchedules(ctx context.Context) error {
	cfg := b.schedulesConfig()
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.INFO."+cfg.Name, "$JS.API.STREAM.CREATE."+cfg.Name, "$JS.API.STREAM.UPDATE."+cfg.Name)
	defer stop()
	var info *jetstream.StreamInfo
	err := retryTransient(ctx, func() error {
		s, err := b.js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = CreateRetrying(ctx, func() (jetstream.Stream, error) { return b.js.CreateStream(ctx, cfg) })
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				s, err = b.js.Stream(ctx, cfg.Name)
			}
		}
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if err = refused(ctx, err); err != nil {
		if Transient(err) && !errors.Is(err, strand.ErrForbidden) {
			return err // provisioning goes on in the background
		}
		b.setSchedules(fmt.Errorf("%w: provision stream %s: %v", ErrNoSchedules, cfg.Name, err))
		return nil
	}
	if !info.Config.AllowMsgSchedules || !info.Config.AllowMsgTTL {
		old := info.Config
		up := old
		up.AllowMsgSchedules, up.AllowMsgTTL, up.AllowRollup, up.DenyPurge = true, true, true, false
		if _, err := b.js.UpdateStream(ctx, up); err != nil {
			b.setSchedules(fmt.Errorf("%w: stream %s exists without message schedules and cannot be updated (%v): "+
				"run nats-server 2.14 or later, then delete the stream (nats stream rm %s; it holds only delayed tasks "+
				"and schedules) and restart a strand process to create it", ErrNoSchedules, cfg.Name, err, cfg.Name))
			return nil
		}
		if s, err := b.js.Stream(ctx, cfg.Name); err == nil && !s.CachedInfo().Config.AllowMsgSchedules {
			b.setSchedules(fmt.Errorf("%w: the server keeps no message schedules (it ignored allow_msg_schedules on %s): "+
				"run nats-server 2.14 or later", ErrNoSchedules, cfg.Name))
			return nil
		}
	}
	b.setSchedules(nil)
	return nil
}

// scheduleAt is when a delayed task runs, as its schedule says: whole
// seconds, rounded up, so that it never runs before the time asked for.
func scheduleAt(t time.Time) time.Time {
	u := t.UTC()
	if r := u.Truncate(time.Second); !r.Equal(u) {
		return r.Add(time.Second)
	}
	return u
}

// submitDelayed queues t for t.At: one create-only publish of its envelope
// as an @at schedule, whose firing the server stores on the task's due
// subject at that time. The schedule takes the id: a second one is refused.
func (b *Broker) submitDelayed(ctx context.Context, t *Task) error {
	if err := b.SchedulesReady(); err != nil {
		return err
	}
	msg, err := b.taskMsg(t)
	if err != nil {
		return err
	}
	n := b.names
	msg.Subject = n.SchedSubject(SchedDelayed, t.Queue, t.ID)
	msg.Header.Set(headerSchedule, "@at "+scheduleAt(t.At).Format(time.RFC3339))
	msg.Header.Set(headerScheduleTarget, n.SchedSubject(SchedDue, t.Queue, t.ID))
	msg.Header.Set(headerScheduleTTL, t.TTL.String())
	msg.Header.Set(HeaderTaskTTL, t.TTL.String())
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	// The id must not be queued, due, or (for an id the producer chose)
	// finished with its outcome kept.
	reads := []read{
		{n.TasksStream(), n.TaskSubject(t.Queue, t.ID)},
		{n.SchedulesStream(), n.SchedSubject(SchedDue, t.Queue, t.ID)},
	}
	if t.OwnID {
		reads = append(reads,
			read{n.Stream(), n.KeySubject(n.ResultKey(t.Queue, t.ID))},
			read{n.Stream(), n.KeySubject(n.CancelKey(t.Queue, t.ID))})
	}
	recs, err := b.getAll(ctx, reads...)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r != nil {
			return fmt.Errorf("%w: %s", strand.ErrDuplicate, t.ID)
		}
	}
	for try := 0; ; try++ {
		_, err = b.publishRetrying(ctx, msg)
		if !wrongLastSeq(err) {
			return refusal(err, "queue "+t.Queue)
		}
		last, gerr := b.getLast(ctx, n.SchedulesStream(), msg.Subject)
		if gerr != nil {
			return gerr
		}
		if last != nil && string(last.Data) == string(msg.Data) && last.Header.Get(headerSchedule) == msg.Header.Get(headerSchedule) {
			return nil // an earlier try was stored after all
		}
		if last != nil || try > 0 {
			return fmt.Errorf("%w: %s (scheduled)", strand.ErrDuplicate, t.ID)
		}
	}
}

// scheduledFree reports a duplicate when id is delayed or due in queue: a
// task submitted now must not take an id a delayed task holds.
func (b *Broker) scheduledFree(ctx context.Context, queue, id string) error {
	if b.SchedulesReady() != nil {
		return nil
	}
	n := b.names
	recs, err := b.getAll(ctx,
		read{n.SchedulesStream(), n.SchedSubject(SchedDelayed, queue, id)},
		read{n.SchedulesStream(), n.SchedSubject(SchedDue, queue, id)})
	if err != nil {
		return err
	}
	if recs[0] != nil || recs[1] != nil {
		return fmt.Errorf("%w: %s (scheduled)", strand.ErrDuplicate, id)
	}
	return nil
}

// lookScheduled finishes a Look of a task that is neither queued nor
// finished: it may be delayed (scheduled) or due. The reads follow the
// task's way (delayed, due, queued, outcome), so a task that moves on
// between them is found where it went.
func (b *Broker) lookScheduled(ctx context.Context, l *Lookup, id string) (*Lookup, error) {
	if b.SchedulesReady() != nil {
		return l, nil
	}
	n := b.names
	for _, kind := range []string{SchedDelayed, SchedDue} {
		rec, err := b.get(ctx, n.SchedulesStream(), n.SchedSubject(kind, l.Queue, id))
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		b.fillTask(l, id, rec)
		if kind == SchedDelayed {
			l.Scheduled = true
			l.RunAt, _ = time.Parse(time.RFC3339, strings.TrimPrefix(rec.Header.Get(headerSchedule), "@at "))
			if ttl, err := parseTTL(rec.Header.Get(HeaderTaskTTL)); err == nil && ttl > 0 && !l.RunAt.IsZero() {
				l.Expires = l.RunAt.Add(ttl)
			}
		}
		return l, nil
	}
	rec, err := b.Queued(ctx, l.Queue, id)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		b.fillTask(l, id, rec)
		st, err := b.State(ctx, l.Queue, id)
		l.State = st
		return l, err
	}
	l.Outcome, err = b.Outcome(ctx, l.Queue, id)
	return l, err
}

// fillTask decodes a queued, delayed or due task's envelope into l.
func (b *Broker) fillTask(l *Lookup, id string, rec *Record) {
	var err error
	if l.Format, err = rec.Format(); err != nil {
		l.Format = codec.Sniff(rec.Data)
	}
	if l.Task, err = codec.DecodeEnvelope(l.Format, rec.Data); err != nil {
		l.Task = &codec.Envelope{ID: id, Func: rec.Header.Get(codec.HeaderFunc)}
	}
	l.Task.Queue, l.Expires = l.Queue, rec.Expires()
}

// unschedule removes a delayed task's schedule (after its cancellation is
// written), so that it never fires: an empty message rolls the subject up
// (the server drops a schedule whose message has no Nats-Schedule) and
// expires a second later. A publish on the task's own subject, unlike a
// purge, is confined by queue.
func (b *Broker) unschedule(ctx context.Context, queue, id string) error {
	m := schedMsg(b.names.SchedSubject(SchedDelayed, queue, id), nil)
	m.Header.Set(headerRollup, "sub")
	m.Header.Set(headerTTL, "1s")
	_, err := b.publishRetrying(ctx, m)
	return refusal(err, m.Subject)
}

func (b *Broker) purgeSched(ctx context.Context, subjects ...string) error {
	return retryTransient(ctx, func() error {
		st, err := b.js.Stream(ctx, b.names.SchedulesStream())
		if err != nil {
			return err
		}
		for _, s := range subjects {
			if err := st.Purge(ctx, jetstream.WithPurgeSubject(s)); err != nil {
				return refusal(err, s)
			}
		}
		return nil
	})
}

// locateScheduled finds the queue of a delayed or due task id ("" if none).
func (b *Broker) locateScheduled(ctx context.Context, id string) (string, error) {
	if b.SchedulesReady() != nil {
		return "", nil
	}
	for _, kind := range []string{SchedDelayed, SchedDue} {
		rec, err := b.get(ctx, b.names.SchedulesStream(), b.names.SchedSubject(kind, "*", id))
		if err != nil || rec != nil {
			if rec == nil {
				return "", err
			}
			_, q, _, _ := b.names.ParseSchedSubject(rec.Subject)
			return q, nil
		}
	}
	return "", nil
}

// schedMsg is a message of the schedules stream with its headers.
func schedMsg(subject string, data []byte) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
}
