package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/cron"
)

// MaxScheduleNameLen bounds a schedule's name, so that its firings' ids
// (name-<unix second>) stay within an id's 128 characters.
const MaxScheduleNameLen = 100

// ValidScheduleName reports whether name can name a schedule: one subject
// token of 1–100 characters of A–Z a–z 0–9 _ = -.
func ValidScheduleName(name string) error {
	if name == "" || len(name) > MaxScheduleNameLen {
		return fmt.Errorf("%w: schedule name %q: want 1-%d characters", strand.ErrBadOption, name, MaxScheduleNameLen)
	}
	if codec.ValidID(name) != nil {
		return fmt.Errorf("%w: schedule name %q is not one subject token: only A-Z a-z 0-9 - _ = are allowed", strand.ErrBadOption, name)
	}
	return nil
}

// ScheduleDef is a named schedule to create or replace: the task template
// it fires, and when.
type ScheduleDef struct {
	Name, Queue, Func string
	Spec              *cron.Spec
	SpecText          string // the spec as its creator wrote it
	Format            codec.Format
	Data              []byte        // the template envelope, encoded
	TaskTTL           time.Duration // each firing's longest wait in its queue
}

// Schedule is a named schedule as the server keeps it.
type Schedule struct {
	Name, Queue, Func string
	Spec, TZ          string
	Paused            bool
	Created           time.Time       // when it was created, replaced or resumed
	Task              *codec.Envelope // the template of its firings' tasks
	Format            codec.Format
	NextRun           time.Time // zero while paused
	LastRun           time.Time // the last firing a worker queued (zero: none yet)
	LastTask          string    // that firing's task id
	Seq               uint64
}

func (b *Broker) scheduleMsg(d *ScheduleDef, paused bool) (*nats.Msg, error) {
	if max := b.MaxRecord(); int64(len(d.Data)) > max {
		return nil, fmt.Errorf("%w: the schedule's task is %d bytes, the server accepts %d", strand.ErrTooLarge, len(d.Data), max)
	}
	if d.TaskTTL < MinTTL {
		return nil, fmt.Errorf("%w: task TTL %v is under the server's minimum of %v", strand.ErrBadOption, d.TaskTTL, MinTTL)
	}
	n := b.names
	m := schedMsg(n.SchedSubject(SchedCron, d.Queue, d.Name), d.Data)
	m.Header.Set(codec.HeaderContentType, d.Format.ContentType())
	m.Header.Set(codec.HeaderFunc, d.Func)
	m.Header.Set(HeaderSchedule, d.SpecText)
	if d.Spec.TZ != "" {
		m.Header.Set(HeaderScheduleTZ, d.Spec.TZ)
	}
	m.Header.Set(HeaderTaskTTL, d.TaskTTL.String())
	if paused {
		m.Header.Set(HeaderPaused, "1")
		m.Header.Set(headerRollup, "sub")
		return m, nil
	}
	m.Header.Set(headerSchedule, d.Spec.Pattern)
	if d.Spec.TZ != "" {
		m.Header.Set(headerScheduleTZ, d.Spec.TZ)
	}
	m.Header.Set(headerScheduleTarget, n.SchedSubject(SchedTick, d.Queue, d.Name))
	m.Header.Set(headerScheduleTTL, d.TaskTTL.String())
	return m, nil
}

// PutSchedule creates the named schedule, or replaces the one of that name
// (in whatever queue; replaced, a paused schedule runs again). The server
// refuses a spec or time zone it cannot fire with an error, and nothing is
// stored then.
func (b *Broker) PutSchedule(ctx context.Context, d *ScheduleDef) error {
	if err := b.SchedulesReady(); err != nil {
		return err
	}
	if err := ValidScheduleName(d.Name); err != nil {
		return err
	}
	old, err := b.GetSchedule(ctx, d.Name)
	if err != nil && !errors.Is(err, strand.ErrNotFound) {
		return err
	}
	m, err := b.scheduleMsg(d, false)
	if err != nil {
		return err
	}
	if _, err := b.publishRetrying(ctx, m); err != nil {
		return fmt.Errorf("schedule %s: %w", d.Name, refusal(err, "schedule "+d.Name))
	}
	if old != nil && old.Queue != d.Queue {
		return b.purgeSchedule(ctx, old.Queue, d.Name)
	}
	return nil
}

// GetSchedule reads the named schedule; strand.ErrNotFound if there is none.
func (b *Broker) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	if err := b.SchedulesReady(); err != nil {
		return nil, err
	}
	if err := ValidScheduleName(name); err != nil {
		return nil, err
	}
	rec, err := b.get(ctx, b.names.SchedulesStream(), b.names.SchedSubject(SchedCron, "*", name))
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("schedule %s: %w", name, strand.ErrNotFound)
	}
	return b.readSchedule(ctx, rec)
}

func (b *Broker) readSchedule(ctx context.Context, rec *Record) (*Schedule, error) {
	_, queue, name, _ := b.names.ParseSchedSubject(rec.Subject)
	s := &Schedule{
		Name: name, Queue: queue, Func: rec.Header.Get(codec.HeaderFunc),
		Spec: rec.Header.Get(HeaderSchedule), TZ: rec.Header.Get(HeaderScheduleTZ),
		Paused: rec.Header.Get(HeaderPaused) != "", Created: rec.Time, Seq: rec.Seq,
	}
	var err error
	if s.Format, err = rec.Format(); err != nil {
		s.Format = codec.Sniff(rec.Data)
	}
	if s.Task, err = codec.DecodeEnvelope(s.Format, rec.Data); err != nil {
		s.Task = &codec.Envelope{Func: s.Func, Queue: queue}
	}
	last, err := b.get(ctx, b.names.SchedulesStream(), b.names.SchedSubject(SchedLast, queue, name))
	if err != nil {
		return nil, err
	}
	var lr lastRun
	if last != nil && json.Unmarshal(last.Data, &lr) == nil && lr.Fired > 0 {
		s.LastRun, s.LastTask = time.UnixMilli(lr.Fired).UTC(), lr.Task
	}
	if !s.Paused {
		if spec, err := cron.Parse(s.Spec, s.TZ); err == nil {
			anchor := s.Created
			if lr.Next > 0 && time.UnixMilli(lr.Next).After(s.Created) && spec.Every > 0 {
				anchor = time.UnixMilli(lr.Next).Add(-spec.Every)
			}
			s.NextRun = spec.Upcoming(anchor, time.Now())
		}
	}
	return s, nil
}

// Schedules lists the named schedules, by name.
func (b *Broker) Schedules(ctx context.Context) ([]*Schedule, error) {
	if err := b.SchedulesReady(); err != nil {
		return nil, err
	}
	var subjects map[string]uint64
	err := retryTransient(ctx, func() error {
		st, err := b.js.Stream(ctx, b.names.SchedulesStream())
		if err != nil {
			return err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(b.names.SchedSubject(SchedCron, "*", "*")))
		if err == nil {
			subjects = info.State.Subjects
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", refusal(err, "schedules"))
	}
	out := make([]*Schedule, 0, len(subjects))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for subj := range subjects {
		wg.Go(func() {
			rec, err := b.get(ctx, b.names.SchedulesStream(), subj)
			var s *Schedule
			if err == nil && rec != nil {
				s, err = b.readSchedule(ctx, rec)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if s != nil {
				out = append(out, s)
			}
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// PauseSchedule stops (paused) or restarts the named schedule's firings.
// Paused, its message stays without the Nats-Schedule header, so the server
// does not fire it; resumed, it fires from now on as its spec says. It is a
// no-op when the schedule is in that state already.
func (b *Broker) PauseSchedule(ctx context.Context, name string, paused bool) error {
	s, err := b.GetSchedule(ctx, name)
	if err != nil {
		return err
	}
	if s.Paused == paused {
		return nil
	}
	spec, err := cron.Parse(s.Spec, s.TZ)
	if err != nil {
		return fmt.Errorf("schedule %s: %w: %v", name, strand.ErrBadOption, err)
	}
	rec, err := b.get(ctx, b.names.SchedulesStream(), b.names.SchedSubject(SchedCron, s.Queue, name))
	if err != nil || rec == nil {
		return fmt.Errorf("schedule %s: %w", name, errors.Join(err, strand.ErrNotFound))
	}
	ttl, err := parseTTL(rec.Header.Get(HeaderTaskTTL))
	if err != nil || ttl < MinTTL {
		ttl = defaultTaskTTL
	}
	m, err := b.scheduleMsg(&ScheduleDef{
		Name: name, Queue: s.Queue, Func: s.Func, Spec: spec, SpecText: s.Spec,
		Format: s.Format, Data: rec.Data, TaskTTL: ttl,
	}, paused)
	if err != nil {
		return err
	}
	// Only over the version read: a replace meanwhile stands.
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rec.Seq, 10))
	if _, err := b.publishRetrying(ctx, m); err != nil {
		if wrongLastSeq(err) {
			if now, gerr := b.GetSchedule(ctx, name); gerr == nil && now.Paused == paused {
				return nil // this write, stored although its answer was lost (or another to the same effect)
			}
			return fmt.Errorf("schedule %s changed meanwhile; try again: %w", name, err)
		}
		return fmt.Errorf("schedule %s: %w", name, refusal(err, "schedule "+name))
	}
	return nil
}

// DeleteSchedule removes the named schedule, its firing not yet queued
// and its last-run record. Tasks it queued already are not touched.
func (b *Broker) DeleteSchedule(ctx context.Context, name string) error {
	s, err := b.GetSchedule(ctx, name)
	if err != nil {
		return err
	}
	return b.purgeSchedule(ctx, s.Queue, name)
}

func (b *Broker) purgeSchedule(ctx context.Context, queue, name string) error {
	n := b.names
	if err := b.purgeSched(ctx, n.SchedSubject(SchedCron, queue, name),
		n.SchedSubject(SchedTick, queue, name), n.SchedSubject(SchedLast, queue, name)); err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}
