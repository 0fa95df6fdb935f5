package writer

import (
	"context"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/cron"
)

// ScheduleInfo is a named schedule as the server keeps it.
type ScheduleInfo struct {
	Name  string
	Queue string
	Func  string
	// Spec is the spec as it was given: "@every 30s" or a cron expression.
	Spec string
	// TZ is the time zone of a cron expression ("" = UTC).
	TZ     string
	Paused bool
	// Created is when the schedule was created, replaced or last resumed.
	Created time.Time
	// NextRun is its next firing as the server computes it (zero while paused).
	NextRun time.Time
	// LastRun and LastTask are its last firing that a worker queued and
	// that firing's task id (open it with Writer.Open); zero before the first.
	LastRun  time.Time
	LastTask string
	// Args and Kwargs are the template's arguments, as encoded: Decode
	// each into a Go value. Kwargs is nil when the template has none.
	Args   []strand.Value
	Kwargs strand.Value
}

// PutSchedule creates the schedule name, or replaces the schedule of that
// name: the server fires fn(args...) as spec says — "@every DURATION" (at
// least 1s), a 5-field cron expression (minute hour day-of-month month
// day-of-week) or a 6-field one (second first), or @hourly, @daily,
// @weekly, @monthly, @yearly — and each firing becomes one task, of id
// name-<unix second of the firing>, so that a firing seen twice runs once.
// A cron spec is read in UTC, or in the IANA time zone it starts with, as
// in crontab: "CRON_TZ=Europe/Paris 0 9 * * mon-fri". opts are those of
// Submit (strand.Queue, Kwargs, Timeout, MaxAttempts, ResultTTL, Meta,
// Encoding…); ID, At and After are refused.
// The name is one subject token (1–100 of A–Z a–z 0–9 _ = -). A bad spec,
// time zone or name is refused with strand.ErrBadOption, and nothing is
// stored.
func (w *Writer) PutSchedule(ctx context.Context, name, spec, fn string, args []any, opts ...strand.Option) error {
	if err := broker.ValidScheduleName(name); err != nil {
		return err
	}
	p, err := w.build(fn, args, opts)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	env, f, o := p.env, p.c.format, p.c
	if p.own || o.Delayed {
		return fmt.Errorf("schedule %s: %w: ID, At and After are for tasks; a firing's id is %s-<unix second>", name, strand.ErrBadOption, name)
	}
	tz, spec := cron.SplitTZ(spec)
	sp, err := cron.Parse(spec, tz)
	if err != nil {
		return fmt.Errorf("schedule %s: %w: %v", name, strand.ErrBadOption, err)
	}
	env.ID, env.Created = name, 0 // each firing sets its own
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	err = w.b.PutSchedule(ctx, &broker.ScheduleDef{
		Name: name, Queue: env.Queue, Func: fn, Spec: sp, SpecText: spec,
		Format: f, Data: data, TaskTTL: w.cfg.TaskTTL,
	})
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	return nil
}

// Schedules reads the named schedules: every one, by name, when names is
// empty; else those names, in that order, with an error matching
// strand.ErrNotFound if one of them does not exist.
func (w *Writer) Schedules(ctx context.Context, names ...string) ([]ScheduleInfo, error) {
	if len(names) == 0 {
		ss, err := w.b.Schedules(ctx)
		out := make([]ScheduleInfo, 0, len(ss))
		for _, s := range ss {
			out = append(out, scheduleInfo(s))
		}
		return out, err
	}
	out := make([]ScheduleInfo, 0, len(names))
	for _, name := range names {
		s, err := w.b.GetSchedule(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, scheduleInfo(s))
	}
	return out, nil
}

// PauseSchedule stops the schedule's firings until ResumeSchedule; a
// firing that happened already still runs.
func (w *Writer) PauseSchedule(ctx context.Context, name string) error {
	return w.b.PauseSchedule(ctx, name, true)
}

// ResumeSchedule restarts a paused schedule's firings, from now on (the
// firings it missed while paused do not run).
func (w *Writer) ResumeSchedule(ctx context.Context, name string) error {
	return w.b.PauseSchedule(ctx, name, false)
}

// DeleteSchedule removes the schedule and a firing of it not queued yet;
// the tasks of its earlier firings are not touched.
func (w *Writer) DeleteSchedule(ctx context.Context, name string) error {
	return w.b.DeleteSchedule(ctx, name)
}

func scheduleInfo(s *broker.Schedule) ScheduleInfo {
	si := ScheduleInfo{
		Name: s.Name, Queue: s.Queue, Func: s.Func, Spec: s.Spec, TZ: s.TZ, Paused: s.Paused,
		Created: s.Created, NextRun: s.NextRun, LastRun: s.LastRun, LastTask: s.LastTask,
	}
	if s.Task != nil {
		of := "schedule " + s.Name
		for i, a := range s.Task.Args {
			si.Args = append(si.Args, codec.Value{F: s.Format, Raw: a, Pos: i + 1, What: of})
		}
		if !s.Task.Kwargs.IsNil() {
			si.Kwargs = codec.Value{F: s.Format, Raw: s.Task.Kwargs, What: "the kwargs of schedule " + s.Name}
		}
		if si.Func == "" {
			si.Func = s.Task.Func
		}
	}
	return si
}
