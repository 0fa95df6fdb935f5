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
	priority    string
	key         string
	unique      string        // "for" or "finished" with Unique
	uniqueFor   time.Duration // the window of Unique(key, d)
	debounce    time.Duration // the window of Debounce
	fair        bool          // queue in the fair lane of the key
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

// Priority sets the task's priority within its queue: codec.PriorityHigh
// ("high"), codec.PriorityNormal ("normal", the default) or
// codec.PriorityLow ("low"). A worker starts a high task before any normal
// one not yet started, and a low one only while no normal task waits.
func Priority(p string) Option {
	return func(o *submitOpts) error {
		if err := codec.ValidPriority(p); err != nil {
			return err
		}
		o.priority = p
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

// Key gives the task its flow key, one subject token: what Unique and
// Debounce compare, and what workers' limits may count by (reader.Limit
// with KeyFrom "key").
func Key(k string) Option {
	return func(o *submitOpts) error {
		if err := codec.ValidKey(k); err != nil {
			return err
		}
		if o.key != "" && o.key != k {
			return fmt.Errorf("two keys: %q and %q", o.key, k)
		}
		o.key = k
		return nil
	}
}

// TimeZone reads a schedule's cron expression in the IANA time zone tz
// (default UTC). Only for PutSchedule, and not with @every.
func TimeZone(tz string) Option {
	return func(o *submitOpts) error { o.tz = tz; return nil }
}

// UntilFinished is Unique's window that lasts until the task holding the
// key has finished, whatever its outcome.
const UntilFinished time.Duration = -1

// Unique makes key unique in the task's queue for window (or
// UntilFinished): while a task submitted with the key holds it, Submit
// returns a handle to that task, with an error matching
// strand.ErrDuplicate, instead of submitting a new one. Two producers
// racing with one key get the same task: the server takes one of their
// claims. The window must be at least 1s and at most the result TTL (the
// existing task's handle must still find it).
func Unique(key string, window time.Duration) Option {
	return func(o *submitOpts) error {
		if err := Key(key)(o); err != nil {
			return err
		}
		switch {
		case window == UntilFinished:
			o.unique = "finished"
		case window < broker.MinTTL:
			return fmt.Errorf("uniqueness window %v is under %v", window, broker.MinTTL)
		default:
			o.unique, o.uniqueFor = "for", window
		}
		return nil
	}
}

// Debounce makes a newer submit with key, within window of the last one,
// replace the task that one queued if it is still pending: the replaced
// task ends cancelled with the reason, and the last submit wins. A
// debounced task starts no sooner than window after its submit, so that
// a burst of submits runs once. The window must be at least 1s and at most
// the result TTL.
func Debounce(key string, window time.Duration) Option {
	return func(o *submitOpts) error {
		if err := Key(key)(o); err != nil {
			return err
		}
		if window < broker.MinTTL {
			return fmt.Errorf("debounce window %v is under %v", window, broker.MinTTL)
		}
		o.debounce = window
		return nil
	}
}

// Fair queues the task in the fair lane of its key (Key, Unique or
// Debounce gives it one): workers with reader.Config.Fair take the fair
// lanes and the normal one in turn, so that one key's backlog holds back
// only the keys that hash to its lane (one in eight). A high or low
// priority takes precedence: such a task waits in its priority's lane.
func Fair() Option {
	return func(o *submitOpts) error { o.fair = true; return nil }
}
