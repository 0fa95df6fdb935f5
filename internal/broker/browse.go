package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// This file browses and searches what the server holds, newest first: the
// queued and running tasks of the tasks stream, and the outcomes and
// cancellations of the bucket. Nothing is indexed elsewhere: every page is
// read from JetStream with direct get batches, so it survives any restart
// of whoever asks, and it costs what it reads (Browse's doc says how much).

// TaskFilter selects the tasks Browse lists; every field set must match.
type TaskFilter struct {
	Queue    string        // the queue; "" for every queue
	Status   strand.Status // "" for every status
	Func     string        // the function's name
	IDPrefix string        // the start of the id
	Meta     map[string]string
	Error    string // a piece of the error message (any case), for tasks that have one
}

// Statuses are the statuses Browse can list, in their order of life.
var Statuses = []strand.Status{
	strand.StatusPending, strand.StatusRunning, strand.StatusRetrying, strand.StatusCompleted,
	strand.StatusFailed, strand.StatusDead, strand.StatusCancelled,
}

// Check refuses a filter whose queue or status cannot exist.
func (f *TaskFilter) Check() error {
	if f.Queue != "" {
		if err := codec.ValidQueue(f.Queue); err != nil {
			return err
		}
	}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return fmt.Errorf("%w: status %q: want one of %v", strand.ErrBadOption, f.Status, Statuses)
	}
	return nil
}

// live reports whether tasks of the filter's status may be queued or running.
func (f *TaskFilter) live() bool {
	switch f.Status {
	case "", strand.StatusPending, strand.StatusRunning, strand.StatusRetrying:
		return true
	}
	return false
}

// finished reports whether tasks of the filter's status have an outcome.
func (f *TaskFilter) finished() bool { return f.Status == "" || f.Status.Terminal() }

// matchesTask matches the id prefix, function and meta.
func (f *TaskFilter) matchesTask(id, fn string, meta map[string]string) bool {
	if !strings.HasPrefix(id, f.IDPrefix) || (f.Func != "" && fn != f.Func) {
		return false
	}
	for k, v := range f.Meta {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchesError matches the error text, when the filter names one.
func (f *TaskFilter) matchesError(e *codec.ErrorInfo) bool {
	return f.Error == "" || (e != nil && strings.Contains(strings.ToLower(e.Message), strings.ToLower(f.Error)))
}

// TaskSummary is one task as Browse lists it.
type TaskSummary struct {
	ID, Queue, Func string
	Status          strand.Status
	Attempt         int
	Worker          string
	Created         time.Time // when it was submitted (zero if unknown)
	Started         time.Time // when its last attempt started
	Finished        time.Time // when it ended
	NextAttempt     time.Time // when a retrying task runs again
	Error           *codec.ErrorInfo
	Meta            map[string]string
	At              time.Time // when its newest record was stored: the order of the list
}

// Page is one page of Browse: the tasks, newest first, and how to go on.
type Page struct {
	Tasks []TaskSummary
	// Next is the cursor of the next page; "" when nothing older is left.
	Next string
	// Scanned is how many records the page read.
	Scanned int
	// Partial is set when the scan bound ended the page before it was
	// full: Next goes on where it stopped.
	Partial bool
}

// Browse bounds.
const (
	// DefaultPageSize is the page size unless asked.
	DefaultPageSize = 50
	// MaxPageSize is the largest page.
	MaxPageSize = 500
	// DefaultScan is how many records one page reads at most, unless asked:
	// a filter that matches few of the records a page looks through (the
	// 12 failures among 700 000 completions) ends the page there, partial,
	// and the next page goes on from where it stopped.
	DefaultScan = 100_000
	// MaxScan is the most records one page may be asked to read.
	MaxScan = 1_000_000
)

// Browse lists the tasks that match f, newest first (by their newest
// record: a queued task by its submission, a finished one by its outcome),
// limit per page (DefaultPageSize when 0, at most MaxPageSize), from
// cursor (a Page's Next; "" for the newest). It reads at most scan records
// (DefaultScan when 0, at most MaxScan) of the tasks stream and the bucket.
//
// What it costs: the records of the queues asked for are read from the
// newest back, in direct get batches of up to 1000, only those whose
// subject fits (the queue, outcome or cancellation); the id prefix,
// function, meta and error are matched in this process. So a page costs
// the records it must look through to find its tasks, plus, for each task
// listed, the reads that make its status true: the state and outcome of a
// queued task, the cancellation of a finished one (a few direct gets each,
// in parallel). A filter that matches one record in N reads N per task.
func (b *Broker) Browse(ctx context.Context, f TaskFilter, limit int, cursor string, scan int) (*Page, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	if scan <= 0 {
		scan = DefaultScan
	}
	scan = min(scan, MaxScan)
	liveHi, finHi, err := parseCursor(cursor)
	if err != nil {
		return nil, err
	}
	q := f.Queue
	if q == "" {
		q = "*"
	}
	page := &Page{}
	budget := scan
	var live, fin *source
	if f.live() && liveHi != 0 {
		live = &source{stream: b.names.TasksStream(), filter: b.names.prefix + ".t." + q + ".*", hi: liveHi}
	}
	if f.finished() && finHi != 0 {
		kind := "*"
		switch f.Status {
		case strand.StatusCancelled:
			kind = KindCancel
		case strand.StatusCompleted, strand.StatusFailed, strand.StatusDead:
			kind = KindOutcome
		}
		fin = &source{stream: b.names.Stream(), filter: b.names.KeySubject(kind + "." + q + ".*"), hi: finHi}
	}
	var items []item
	for _, src := range []*source{live, fin} {
		if src == nil {
			continue
		}
		resolve := b.resolveLive
		if src == fin {
			resolve = b.resolveFinished
		}
		got, err := b.fill(ctx, src, &f, limit, &budget, resolve)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	page.Scanned = scan - budget
	// Newest first across both sources; each source's cursor moves to the
	// oldest of its tasks on the page, or to where its scan ended when all
	// it found is on the page.
	slices.SortStableFunc(items, func(a, b item) int { return b.t.At.Compare(a.t.At) })
	if len(items) > limit {
		items = items[:limit]
	}
	for _, it := range items {
		page.Tasks = append(page.Tasks, it.t)
		it.src.taken++
		it.src.oldest = it.seq
	}
	next := [2]uint64{}
	for i, src := range []*source{live, fin} {
		if src == nil {
			continue
		}
		switch {
		case src.taken < src.found && src.taken > 0:
			next[i] = src.oldest
		case src.taken < src.found:
			next[i] = src.top
		case !src.done:
			next[i] = src.hi
		}
		page.Partial = page.Partial || src.partial
	}
	if next[0] != 0 || next[1] != 0 {
		page.Next = fmt.Sprintf("%d.%d", next[0], next[1])
	}
	return page, nil
}

// parseCursor reads a cursor "<tasks seq>.<bucket seq>": the sequences
// below which each stream is read; "" is the top of both.
func parseCursor(c string) (live, fin uint64, err error) {
	if c == "" {
		return ^uint64(0), ^uint64(0), nil
	}
	a, z, ok := strings.Cut(c, ".")
	if ok {
		live, err = strconv.ParseUint(a, 10, 64)
	}
	if ok && err == nil {
		fin, err = strconv.ParseUint(z, 10, 64)
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%w: cursor %q: want the next cursor of a page", strand.ErrBadOption, c)
	}
	return live, fin, nil
}

// source is one stream read back from hi.
type source struct {
	stream, filter string
	top            uint64 // where the page started reading it
	hi             uint64 // every record at or above hi (and below top) is read
	window         uint64
	done           bool   // nothing older left
	partial        bool   // the scan bound stopped it
	found, taken   int    // its tasks found, and put on the page
	oldest         uint64 // the sequence of its oldest task on the page
}

// item is a task found by a source, with where it was found.
type item struct {
	t   TaskSummary
	seq uint64
	src *source
}

// resolver turns records (newest first) into the tasks they describe that
// match f, or drops them.
type resolver func(ctx context.Context, f *TaskFilter, recs []*Record) ([]*TaskSummary, error)

// fill reads src back until it has limit tasks that match f, the budget is
// spent, or the stream has nothing older.
func (b *Broker) fill(ctx context.Context, src *source, f *TaskFilter, limit int, budget *int, resolve resolver) ([]item, error) {
	first, last, err := b.bounds(ctx, src.stream)
	if err != nil {
		return nil, err
	}
	src.hi = min(src.hi, last+1)
	src.top = src.hi
	src.window = uint64(max(2*limit, 64))
	var out []item
	for len(out) < limit {
		if src.hi <= max(first, 1) {
			src.done = true
			break
		}
		if *budget <= 0 {
			src.partial = true
			break
		}
		lo := max(first, src.hi-min(src.hi, min(src.window, uint64(*budget))))
		recs, err := b.window(ctx, src, lo, budget)
		if err != nil {
			return nil, err
		}
		src.hi = lo
		src.window = min(src.window*4, batchMax*64)
		ts, err := resolve(ctx, f, recs)
		if err != nil {
			return nil, err
		}
		for i, t := range ts {
			if t != nil {
				out = append(out, item{t: *t, seq: recs[i].Seq, src: src})
			}
		}
	}
	if src.hi <= max(first, 1) {
		src.done = true
	}
	src.found = len(out)
	return out, nil
}

// window reads the records of src in [lo, src.hi), newest first, markers
// left out.
func (b *Broker) window(ctx context.Context, src *source, lo uint64, budget *int) ([]*Record, error) {
	var recs []*Record
	for seq := lo; seq < src.hi; {
		n := int(min(uint64(batchMax), src.hi-seq))
		got, _, err := b.batch(ctx, src.stream, src.filter, seq, n)
		if err != nil {
			return nil, err
		}
		*budget -= len(got)
		if len(got) == 0 {
			break
		}
		for _, r := range got {
			if r.Seq >= src.hi {
				seq = src.hi
				break
			}
			seq = r.Seq + 1
			if !IsMarker(r.Header, r.Data) {
				recs = append(recs, r)
			}
		}
		if len(got) < n {
			break // no more that match
		}
	}
	slices.Reverse(recs)
	return recs, nil
}

// bounds returns a stream's first and last sequences.
func (b *Broker) bounds(ctx context.Context, stream string) (first, last uint64, err error) {
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, fmt.Errorf("browse %s: %w", stream, err)
	}
	info := st.CachedInfo()
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// lookups bounds the direct gets Browse makes at once.
const lookups = 32

// each runs fn for every index of n, lookups at a time.
func each(n int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, lookups)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resolveLive turns queued tasks into their summaries: each one's status
// is its state's (running, retrying) or pending; a task that has an
// outcome already is left to the bucket's side. The envelopes are matched
// here first; only the tasks that match are looked up, in parallel.
func (b *Broker) resolveLive(ctx context.Context, f *TaskFilter, recs []*Record) ([]*TaskSummary, error) {
	out := make([]*TaskSummary, len(recs))
	var cand []int
	for i, rec := range recs {
		queue, id, ok := b.names.ParseTaskSubject(rec.Subject)
		if !ok || !strings.HasPrefix(id, f.IDPrefix) {
			continue
		}
		format, err := rec.Format()
		if err != nil {
			format = codec.Sniff(rec.Data)
		}
		env, err := codec.DecodeEnvelope(format, rec.Data)
		if err != nil {
			env = &codec.Envelope{ID: id, Func: rec.Header.Get(codec.HeaderFunc)}
		}
		if !f.matchesTask(id, env.Func, env.Meta) {
			continue
		}
		t := &TaskSummary{ID: id, Queue: queue, Func: env.Func, Status: strand.StatusPending, Meta: env.Meta, At: rec.Time}
		if env.Created != 0 {
			t.Created = time.UnixMilli(env.Created)
		}
		out[i] = t
		cand = append(cand, i)
	}
	err := each(len(cand), func(j int) error {
		i := cand[j]
		t := out[i]
		n := b.names
		rs, err := b.getAll(ctx,
			read{n.Stream(), n.KeySubject(n.ResultKey(t.Queue, t.ID))},
			read{n.Stream(), n.KeySubject(n.CancelKey(t.Queue, t.ID))},
			read{n.Stream(), n.KeySubject(n.StateKey(t.Queue, t.ID))})
		if err != nil {
			return err
		}
		if rs[0] != nil || rs[1] != nil {
			out[i] = nil // it has ended: listed with its outcome
			return nil
		}
		if rs[2] != nil {
			if st, err := codec.DecodeState(rs[2].Data); err == nil {
				t.Status, t.Attempt, t.Worker = st.Status, st.Attempt, st.Worker
				t.Started, t.NextAttempt = unixMilli(st.Started), unixMilli(st.NextAttempt)
				t.Error = st.LastError
			}
		}
		if (f.Status != "" && t.Status != f.Status) || !f.matchesError(t.Error) {
			out[i] = nil
		}
		return nil
	})
	return out, err
}

// resolveFinished turns outcome and cancellation records into the
// summaries of the tasks they ended: of a task with both, the first one
// written is its outcome, and only that one is listed. The records are
// matched here first; only those that match are checked against the other
// record, in parallel.
func (b *Broker) resolveFinished(ctx context.Context, f *TaskFilter, recs []*Record) ([]*TaskSummary, error) {
	out := make([]*TaskSummary, len(recs))
	var cand []int
	for i, rec := range recs {
		kind, queue, id, ok := b.names.ParseKey(rec.Subject)
		if !ok || (kind != KindOutcome && kind != KindCancel) || !strings.HasPrefix(id, f.IDPrefix) {
			continue
		}
		o, err := b.DecodeOutcome(rec.Subject, rec.Data, rec.Seq)
		if err != nil {
			continue // not strand's: nothing to list
		}
		if (f.Status != "" && o.Status != f.Status) || !f.matchesTask(id, o.Func, o.Meta) || !f.matchesError(o.Error) {
			continue
		}
		out[i] = &TaskSummary{
			ID: id, Queue: queue, Func: o.Func, Status: o.Status, Attempt: o.Attempt, Worker: o.Worker,
			Created: unixMilli(o.Created), Started: unixMilli(o.Started), Finished: unixMilli(o.Finished),
			Error: o.Error, Meta: o.Meta, At: rec.Time,
		}
		cand = append(cand, i)
	}
	err := each(len(cand), func(j int) error {
		i := cand[j]
		rec, t := recs[i], out[i]
		other := b.names.ResultKey(t.Queue, t.ID)
		if kind, _, _, _ := b.names.ParseKey(rec.Subject); kind == KindOutcome {
			other = b.names.CancelKey(t.Queue, t.ID)
		}
		r, err := b.record(ctx, other)
		if err != nil {
			return err
		}
		if r != nil && r.Seq < rec.Seq {
			out[i] = nil // the other one came first: it is the outcome
		}
		return nil
	})
	return out, err
}

func unixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
