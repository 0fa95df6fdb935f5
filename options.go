package strand

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/strand-run/strand/internal/opt"
)

// Option configures one submission: where it is queued, its id, limits,
// delay, priority, uniqueness. Options are Submit's last arguments, after
// the function's args, for every runner (the writer and runner.Inline,
// Pool, Process):
//
//	h, err := w.Submit(ctx, "add", []any{2, 3}, strand.Queue("math"), strand.Timeout(time.Second))
//
// An invalid option makes Submit fail with an error matching ErrBadOption,
// and so does one the runner cannot honour (a delay for runner.Inline).
type Option func(*opt.Call)

// check records that option name was given, and its error (nil: none).
func check(c *opt.Call, name string, err error) {
	c.Given(name)
	refuse(c, name, err)
}

// refuse records an error of option name, wrapping ErrBadOption.
func refuse(c *opt.Call, name string, err error) {
	if err != nil {
		c.Fail(name, fmt.Errorf("%w: %w", ErrBadOption, err))
	}
}

// Queue sends the task to queue q instead of the writer's default: 1–64 of
// A–Z a–z 0–9 - _.
func Queue(q string) Option {
	return func(c *opt.Call) { check(c, "Queue", opt.ValidQueue(q)); c.Queue = q }
}

// ID gives the task its id instead of a new UUIDv7 (1–128 of A–Z a–z 0–9
// - _ =). A second submission with the same id is refused with ErrDuplicate
// (and a handle to the first) while the first is queued or running and
// while its outcome is kept (the result TTL): the id is an idempotency key.
func ID(id string) Option {
	return func(c *opt.Call) { check(c, "ID", opt.ValidID(id)); c.ID = id }
}

// Kwargs passes keyword arguments: a map[string]any or a struct, bound to
// the handler's trailing kwargs struct by name.
func Kwargs(kw any) Option {
	return func(c *opt.Call) { c.Given("Kwargs"); c.Kwargs = kw }
}

// Timeout bounds one attempt of the task: its handler's ctx ends after d,
// and the attempt fails with ErrTimeout (0: no limit).
func Timeout(d time.Duration) Option {
	return func(c *opt.Call) {
		check(c, "Timeout", notNegative("timeout", d))
		c.Timeout = d
	}
}

// MaxAttempts caps how many times the task runs when its handler fails
// with a retryable error (0: the worker's default; workers cap it at 25 or
// their own maximum).
func MaxAttempts(n int) Option {
	return func(c *opt.Call) {
		var err error
		if n < 0 {
			err = fmt.Errorf("negative max attempts %d", n)
		}
		check(c, "MaxAttempts", err)
		c.MaxAttempts = n
	}
}

// ResultTTL keeps the task's outcome (and so its id) for d after it ends
// instead of the writer's default: between 1s and 365 days.
func ResultTTL(d time.Duration) Option {
	return func(c *opt.Call) {
		var err error
		if d < time.Second || d > 365*24*time.Hour {
			err = fmt.Errorf("result TTL %v: want 1s to 365 days", d)
		}
		check(c, "ResultTTL", err)
		c.ResultTTL = d
	}
}

// Meta adds string metadata to the task: it travels to the worker
// (strand.TaskFrom(ctx).Meta) and is shown by status and Info. Several Meta
// options add up.
func Meta(kv map[string]string) Option {
	return func(c *opt.Call) {
		c.Given("Meta")
		if c.Meta == nil {
			c.Meta = map[string]string{}
		}
		maps.Copy(c.Meta, kv)
	}
}

// Encoding encodes the task (and so its result) with the named codec
// instead of the writer's default: "msgpack", "json", or one added with
// codec.Register.
func Encoding(name string) Option {
	return func(c *opt.Call) {
		var err error
		if name == "" {
			err = errors.New("empty codec name")
		}
		check(c, "Encoding", err)
		c.Encoding = name
	}
}

// Caller submits the task as the given caller identity instead of the
// writer's (writer.Config.Caller): it travels in the task's meta under
// "caller" (TaskFrom(ctx).Meta["caller"]), where workers' authorisation
// middleware (middleware.Allowlist) reads it.
func Caller(id string) Option {
	return func(c *opt.Call) { c.Given("Caller"); c.Caller = id }
}

// At delays the task until t: it has status scheduled until then, the
// server keeps it (no strand process needs to be alive) and queues it at t
// (rounded up to the second). Its id is taken from the submission on. A t
// not after now queues it at once; a t further than the task TTL is
// refused.
func At(t time.Time) Option {
	return func(c *opt.Call) {
		var err error
		if t.IsZero() {
			err = errors.New("zero time")
		}
		check(c, "At", err)
		c.At, c.Delayed = t, true
	}
}

// After delays the task by d, as At(time.Now().Add(d)); d <= 0 queues it
// at once.
func After(d time.Duration) Option {
	return func(c *opt.Call) { c.Given("After"); c.At, c.Delayed = time.Now().Add(d), true }
}

// Priority sets the task's priority within its queue: "high", "normal"
// (the default) or "low". A worker starts a high task before any normal
// one not yet started, and a low one only while no normal task waits.
func Priority(p string) Option {
	return func(c *opt.Call) { check(c, "Priority", opt.ValidPriority(p)); c.Priority = p }
}

// Key gives the task its flow key, one subject token: what Unique and
// Debounce compare, and what workers' limits may count by.
func Key(k string) Option {
	return func(c *opt.Call) { setKey(c, "Key", k) }
}

func setKey(c *opt.Call, name, k string) {
	err := opt.ValidKey(k)
	if err == nil && c.Key != "" && c.Key != k {
		err = fmt.Errorf("two keys: %q and %q", c.Key, k)
	}
	check(c, name, err)
	c.Key = k
}

// Unique makes key unique in the task's queue for window, or, with window
// 0, until the task holding the key has finished, whatever its outcome:
// while a task submitted with the key holds it, Submit returns a handle to
// that task, with an error matching ErrDuplicate, instead of submitting a
// new one. Two producers racing with one key get the same task. A window
// other than 0 must be at least 1s and at most the result TTL.
func Unique(key string, window time.Duration) Option {
	return func(c *opt.Call) {
		setKey(c, "Unique", key)
		switch {
		case window == 0:
			c.Unique = "finished"
		case window < time.Second:
			refuse(c, "Unique", fmt.Errorf("uniqueness window %v is under 1s (0: until finished)", window))
		default:
			c.Unique, c.UniqueFor = "for", window
		}
	}
}

// Debounce makes a newer submit with key, within window of the last one,
// replace the task that one queued if it is still pending: the replaced
// task ends cancelled with the reason, and the last submit wins. A
// debounced task starts no sooner than window after its submit, so that a
// burst of submits runs once. The window must be at least 1s and at most
// the result TTL.
func Debounce(key string, window time.Duration) Option {
	return func(c *opt.Call) {
		setKey(c, "Debounce", key)
		if window < time.Second {
			refuse(c, "Debounce", fmt.Errorf("debounce window %v is under 1s", window))
		}
		c.Debounce = window
	}
}

// Fair queues the task in the fair lane of its key (Key, Unique or
// Debounce gives it one): workers with reader.Config.Fair take the fair
// lanes and the normal one in turn, so that one key's backlog holds back
// only the keys that hash to its lane (one in eight).
func Fair() Option {
	return func(c *opt.Call) { c.Given("Fair"); c.Fair = true }
}

func notNegative(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("negative %s %v", what, d)
	}
	return nil
}
