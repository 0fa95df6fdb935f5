package inspect

import (
	"context"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
)

// Filter selects the tasks Tasks lists; every field set must match.
// Cursor, Limit and Scan say which page it reads.
type Filter struct {
	Queue    string            // the queue; "" for every queue
	Status   strand.Status     // "" for every status
	Func     string            // the function's name
	IDPrefix string            // the start of the id
	Meta     map[string]string // meta entries the task must have
	Error    string            // a piece of the error message (any case)

	// Cursor is a Page's Next; "" for the newest tasks.
	Cursor string
	// Limit is the most tasks on the page (default 50, at most 500).
	Limit int
	// Scan bounds the records read to fill the page (default 100 000,
	// at most 1 000 000): past it the page is Partial.
	Scan int
}

func (f Filter) broker() broker.TaskFilter {
	return broker.TaskFilter{Queue: f.Queue, Status: f.Status, Func: f.Func, IDPrefix: f.IDPrefix, Meta: f.Meta, Error: f.Error}
}

// Task is one task as Tasks and DeadLetters list it.
type Task struct {
	ID, Queue, Func string
	Status          strand.Status
	Attempt         int
	Worker          string
	Created         time.Time // when it was submitted (zero if unknown)
	Started         time.Time // when its last attempt started
	Finished        time.Time // when it ended
	NextAttempt     time.Time // when a retrying task runs again
	Kind            string    // its error's kind, when it has an error
	Error           string    // its error's message
	Meta            map[string]string
	At              time.Time // when its newest record was stored: the list's order
	Seq             uint64    // a dead letter's sequence in the dead-letter stream (DeadLetters)
}

// Page is one page of Tasks, newest first.
type Page struct {
	Tasks []Task
	// Next is the cursor of the next page; "" when nothing older is left.
	Next string
	// Scanned is how many records the page read.
	Scanned int
	// Partial is set when the scan bound ended the page before it was
	// full: Next goes on where it stopped.
	Partial bool
}

// Tasks lists the tasks the server holds (queued, running, and finished
// until their outcomes expire) that match f, newest first, one page at a
// time (f.Cursor, f.Limit, f.Scan). A bad filter (a bad queue name, an
// unknown status) or cursor is refused with an error wrapping
// strand.ErrBadOption.
func (in *Inspector) Tasks(ctx context.Context, f Filter) (*Page, error) {
	bp, err := in.b.Browse(ctx, f.broker(), f.Limit, f.Cursor, f.Scan)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	out := &Page{Tasks: make([]Task, 0, len(bp.Tasks)), Next: bp.Next, Scanned: bp.Scanned, Partial: bp.Partial}
	for _, t := range bp.Tasks {
		out.Tasks = append(out.Tasks, task(&t))
	}
	return out, nil
}

func task(t *broker.TaskSummary) Task {
	s := Task{
		ID: t.ID, Queue: t.Queue, Func: t.Func, Status: t.Status, Attempt: t.Attempt, Worker: t.Worker,
		Created: t.Created, Started: t.Started, Finished: t.Finished, NextAttempt: t.NextAttempt, Meta: t.Meta, At: t.At,
	}
	if t.Error != nil {
		s.Kind, s.Error = t.Error.Kind, t.Error.Message
	}
	return s
}

// Minute is one minute of a queue's work, from the outcomes written in it.
type Minute struct {
	Start     time.Time // the minute's start
	Processed int       // tasks that ended: completed, failed, dead
	Failed    int       // of those, failed or dead
	// Queue wait (submitted → started) and run time (started → finished)
	// of the tasks that ended in the minute, by percentile.
	WaitP50, WaitP99, RunP50, RunP99 time.Duration
}

// Stats is the per-minute work of the queues over a span.
type Stats struct {
	// Queues maps each queue to its minutes, oldest first, one for each
	// minute of the span (empty ones too).
	Queues map[string][]Minute
	// Scanned is how many outcome records were read.
	Scanned int
	// Partial is set when the scan bound was reached before the span's
	// start: the minutes cover its newest part.
	Partial bool
}

// Stats computes each queue's work (or queue's alone, when not "") per
// minute over the last minutes minutes, from the outcome records the
// server keeps (the result TTL keeps them), reading at most scan of them
// (0: 100 000). Nothing is kept elsewhere: every process reads the same.
func (in *Inspector) Stats(ctx context.Context, queue string, minutes, scan int) (*Stats, error) {
	rep, err := in.b.Stats(ctx, queue, minutes, scan)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	out := &Stats{Queues: make(map[string][]Minute, len(rep.Queues)), Scanned: rep.Scanned, Partial: rep.Partial}
	for _, q := range rep.Queues {
		ms := make([]Minute, 0, len(q.Minutes))
		for _, m := range q.Minutes {
			ms = append(ms, Minute(m))
		}
		out.Queues[q.Queue] = ms
	}
	return out, nil
}
