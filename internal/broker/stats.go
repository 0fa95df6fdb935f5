package broker

import (
	"context"
	"slices"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Minute is one minute of a queue's work, from the outcomes written in it.
type Minute struct {
	Start     time.Time // the minute's start
	Processed int       // tasks that ended: completed, failed, dead
	Failed    int       // of those, failed or dead
	// Queue wait (submitted → started) and run time (started → finished)
	// of the tasks that ended in the minute, by percentile.
	WaitP50, WaitP99, RunP50, RunP99 time.Duration
}

// QueueStats is a queue's minutes, oldest first, one for each minute of the
// span asked for (empty ones too).
type QueueStats struct {
	Queue   string
	Minutes []Minute
}

// StatsReport is what Stats read.
type StatsReport struct {
	Queues  []QueueStats
	Scanned int  // outcome records read
	Partial bool // the scan bound was reached before the span's start
}

// Stats computes per-minute work of each queue (or of queue alone) over the
// last minutes minutes, from the outcome records the bucket keeps (the
// result TTL, 24h by default, keeps an hour's outcomes unless it is set
// shorter or tasks are purged): their created, started and finished times.
// Nothing is kept elsewhere, so a gateway that restarts draws the same
// charts. It reads the outcomes written since the span's start, newest
// back, at most scan (DefaultScan when 0, at most MaxScan): past that, the
// report is partial and covers the newest part of the span.
func (b *Broker) Stats(ctx context.Context, queue string, minutes, scan int) (*StatsReport, error) {
	if queue != "" {
		if err := codec.ValidQueue(queue); err != nil {
			return nil, err
		}
	} else {
		queue = "*"
	}
	minutes = max(1, min(minutes, 24*60))
	if scan <= 0 {
		scan = DefaultScan
	}
	scan = min(scan, MaxScan)
	now := time.Now()
	end := now.Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-time.Duration(minutes) * time.Minute)
	type acc struct {
		processed, failed []int
		wait, run         [][]time.Duration
	}
	accs := map[string]*acc{}
	get := func(q string) *acc {
		a := accs[q]
		if a == nil {
			a = &acc{processed: make([]int, minutes), failed: make([]int, minutes),
				wait: make([][]time.Duration, minutes), run: make([][]time.Duration, minutes)}
			accs[q] = a
		}
		return a
	}
	src := &source{stream: b.names.Stream(), filter: b.names.KeySubject(KindOutcome + "." + queue + ".*"), hi: ^uint64(0)}
	first, last, err := b.bounds(ctx, src.stream)
	if err != nil {
		return nil, err
	}
	src.hi = last + 1
	src.window = 1024
	budget := scan
	rep := &StatsReport{}
	for src.hi > max(first, 1) {
		if budget <= 0 {
			rep.Partial = true
			break
		}
		lo := max(first, src.hi-min(src.hi, min(src.window, uint64(budget))))
		recs, err := b.window(ctx, src, lo, &budget)
		if err != nil {
			return nil, err
		}
		src.hi = lo
		src.window = min(src.window*4, batchMax*64)
		older := false
		for _, rec := range recs {
			if rec.Time.Before(start) {
				older = true
				continue
			}
			_, q, _, ok := b.names.ParseKey(rec.Subject)
			if !ok {
				continue
			}
			o, _, err := codec.DecodeOutcome(rec.Data)
			if err != nil || o.Status == strand.StatusCancelled {
				continue
			}
			fin := o.Finished
			if fin == 0 {
				fin = rec.Time.UnixMilli()
			}
			i := int(time.UnixMilli(fin).Sub(start) / time.Minute)
			if i < 0 || i >= minutes {
				continue
			}
			a := get(q)
			a.processed[i]++
			if o.Status == strand.StatusFailed || o.Status == strand.StatusDead {
				a.failed[i]++
			}
			if o.Started != 0 && o.Created != 0 && o.Started >= o.Created {
				a.wait[i] = append(a.wait[i], time.Duration(o.Started-o.Created)*time.Millisecond)
			}
			if o.Started != 0 && fin >= o.Started {
				a.run[i] = append(a.run[i], time.Duration(fin-o.Started)*time.Millisecond)
			}
		}
		if older {
			break // the rest is older than the span
		}
	}
	rep.Scanned = scan - budget
	for q, a := range accs {
		qs := QueueStats{Queue: q, Minutes: make([]Minute, minutes)}
		for i := range minutes {
			qs.Minutes[i] = Minute{
				Start: start.Add(time.Duration(i) * time.Minute), Processed: a.processed[i], Failed: a.failed[i],
				WaitP50: percentile(a.wait[i], 50), WaitP99: percentile(a.wait[i], 99),
				RunP50: percentile(a.run[i], 50), RunP99: percentile(a.run[i], 99),
			}
		}
		rep.Queues = append(rep.Queues, qs)
	}
	slices.SortFunc(rep.Queues, func(a, b QueueStats) int { return strings.Compare(a.Queue, b.Queue) })
	return rep, nil
}

// percentile is the p-th percentile of ds (nearest rank); 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	return ds[max(0, min(i-1, len(ds)-1))]
}
