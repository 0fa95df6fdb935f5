package writer

import (
	"fmt"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Option changes one submission. Options are passed among Submit's args:
// every argument of type Option is taken as an option, the rest are the
// task's positional args.
type Option func(*submitOpts) error

type submitOpts struct {
	queue       string
	id          string
	kwargs      any
	timeout     time.Duration
	maxAttempts int
	resultTTL   time.Duration
	meta        map[string]string
	format      codec.Format
	formatSet   bool
	trace       string
	caller      string
	at          time.Time // At, or now + After
	delayed     bool      // At or After was given
	tz          string    // TimeZone: schedules only
}

// Queue sends the task to queue q instead of the writer's default.
func Queue(q string) Option {
	return func(o *submitOpts) error {
		if err := codec.ValidQueue(q); err != nil {
			return err
		}
		o.queue = q
		return nil
	}
}

// ID gives the task its id instead of a new UUIDv7. A second submission
// with the same id is refused with strand.ErrDuplicate (and a handle to the
// first) while the first is queued or running and while its outcome is kept
// (the result TTL), which makes the id an idempotency key.
func ID(id string) Option {
	return func(o *submitOpts) error {
		if err := codec.ValidID(id); err != nil {
			return err
		}
		o.id = id
		return nil
	}
}

// Kwargs passes keyword arguments: a map with string keys, or a struct
// (encoded by its msgpack, else json, tags).
func Kwargs(kw any) Option {
	return func(o *submitOpts) error { o.kwargs = kw; return nil }
}

// Timeout limits how long the handler may run (its ctx deadline).
func Timeout(d time.Duration) Option {
	return func(o *submitOpts) error {
		if d < 0 {
			return fmt.Errorf("negative timeout %v", d)
		}
		o.timeout = d
		return nil
	}
}

// MaxAttempts caps how many times the task runs (0 = the worker's default).
func MaxAttempts(n int) Option {
	return func(o *submitOpts) error {
		if n < 0 {
			return fmt.Errorf("negative max attempts %d", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// ResultTTL is how long the task's state and outcome are kept after it
// ends (default: the writer's, 24h).
func ResultTTL(d time.Duration) Option {
	return func(o *submitOpts) error {
		if d < broker.MinTTL || d > broker.MaxResultTTL {
			return fmt.Errorf("result TTL %v is out of bounds [%v, %v]", d, broker.MinTTL, broker.MaxResultTTL)
		}
		o.resultTTL = d
		return nil
	}
}

// Meta attaches string metadata to the task; workers see it in
// strand.TaskFrom(ctx).Meta and handles in Info.Meta.
func Meta(kv map[string]string) Option {
	return func(o *submitOpts) error {
		if o.meta == nil {
			o.meta = make(map[string]string, len(kv))
		}
		for k, v := range kv {
			o.meta[k] = v
		}
		return nil
	}
}

// Format encodes the task (and so its result) as f instead of the writer's default.
func Format(f codec.Format) Option {
	return func(o *submitOpts) error { o.format, o.formatSet = f, true; return nil }
}

// Trace carries a W3C traceparent to the worker.
func Trace(traceparent string) Option {
	return func(o *submitOpts) error { o.trace = traceparent; return nil }
}

// Caller submits the task as the given caller identity (instead of the
// writer's Config.Caller): it travels in the task's meta under
// strand.MetaCaller, where workers' authorisation middleware reads it.
func Caller(id string) Option {
	return func(o *submitOpts) error { o.caller = id; return nil }
}

// Codec encodes the task (and so its result) with c: a built-in Format, or
// a codec added with codec.Register (refused if it is not registered).
func Codec(c codec.Codec) Option {
	return func(o *submitOpts) error {
		f, ok := codec.FormatOf(c)
		if !ok {
			return fmt.Errorf("codec %s (%s) is not registered", c.Name(), c.ContentType())
		}
		o.format, o.formatSet = f, true
		return nil
	}
}

// At delays the task until t: it has status scheduled until then, the
// server keeps it (no strand process needs to be alive) and queues it at t
// (rounded up to the second), when it is pending. Its id is taken from the
// submission on. A t not after now queues it at once; a t further than the
// task TTL is refused. Not for schedules.
func At(t time.Time) Option {
	return func(o *submitOpts) error {
		if t.IsZero() {
			return fmt.Errorf("At: zero time")
		}
		o.at, o.delayed = t, true
		return nil
	}
}

// After delays the task by d, as At(time.Now().Add(d)); d <= 0 queues it
// at once.
func After(d time.Duration) Option {
	return func(o *submitOpts) error {
		o.at, o.delayed = time.Now().Add(d), true
		return nil
	}
}

// TimeZone reads a schedule's cron expression in the IANA time zone tz
// (default UTC). Only for PutSchedule, and not with @every.
func TimeZone(tz string) Option {
	return func(o *submitOpts) error { o.tz = tz; return nil }
}
