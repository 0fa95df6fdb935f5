// Package opt is the resolved form of strand's submit options: what
// strand.Queue, strand.Timeout, … record, and what every runner (the
// writer, runner.Inline, Pool, Process) reads. The rules for the names
// options carry (ids, queues, keys, priorities) live here too, so that the
// options, the codec and the gateway check them one way.
package opt

import (
	"errors"
	"fmt"
	"time"
)

// Call is the options of one submission, as the strand.Option values given
// to Submit left them. Zero fields mean "not given": the runner's default.
type Call struct {
	Queue       string
	ID          string
	Kwargs      any
	Timeout     time.Duration
	MaxAttempts int
	ResultTTL   time.Duration
	Meta        map[string]string
	Encoding    string // a codec name: "msgpack", "json" or a registered one
	Trace       string
	Caller      string
	At          time.Time // At, or now + After
	Delayed     bool      // At or After was given
	Priority    string
	Key         string
	Unique      string        // "for" or "finished" with Unique
	UniqueFor   time.Duration // the window of Unique(key, d)
	Debounce    time.Duration // the window of Debounce
	Fair        bool

	given []string // the options applied, by name, in order
	errs  []error
}

// Given records that the option name was applied.
func (c *Call) Given(name string) { c.given = append(c.given, name) }

// Has reports whether the option name was applied.
func (c *Call) Has(name string) bool {
	for _, n := range c.given {
		if n == name {
			return true
		}
	}
	return false
}

// Names returns the options applied, by name, in order.
func (c *Call) Names() []string { return c.given }

// Fail records an option's error; Err returns them.
func (c *Call) Fail(name string, err error) { c.errs = append(c.errs, fmt.Errorf("%s: %w", name, err)) }

// Err is the options' errors joined, nil if none.
func (c *Call) Err() error { return errors.Join(c.errs...) }

// MaxIDLen is the longest task id accepted.
const MaxIDLen = 128

// ValidID reports whether id can name a task: 1–128 characters of
// A–Z a–z 0–9 - _ = (one subject token, one KV key part).
func ValidID(id string) error {
	switch {
	case id == "":
		return errors.New("missing id")
	case len(id) > MaxIDLen:
		return fmt.Errorf("id longer than %d bytes", MaxIDLen)
	case !Token(id, true):
		return fmt.Errorf("id %q: only A-Z a-z 0-9 - _ = are allowed", id)
	}
	return nil
}

// ValidQueue reports whether q can name a queue: 1–64 characters of
// A–Z a–z 0–9 - _.
func ValidQueue(q string) error {
	if q == "" || len(q) > 64 || !Token(q, false) {
		return fmt.Errorf("queue %q: want 1-64 of A-Z a-z 0-9 - _", q)
	}
	return nil
}

// ValidKey reports whether k can be a flow key (uniqueness, debounce,
// limits): one subject token of 1–128 characters of A–Z a–z 0–9 - _ =.
func ValidKey(k string) error {
	if k == "" || len(k) > 128 || !Token(k, true) {
		return fmt.Errorf("key %q: want 1-128 of A-Z a-z 0-9 - _ = (one subject token)", k)
	}
	return nil
}

// Task priorities within a queue (the envelope's "priority").
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal" // the default, written as no priority at all
	PriorityLow    = "low"
)

// ValidPriority reports whether p names a priority ("" is normal).
func ValidPriority(p string) error {
	switch p {
	case "", PriorityHigh, PriorityNormal, PriorityLow:
		return nil
	}
	return fmt.Errorf("priority %q: want high, normal or low", p)
}

// Token reports whether s is made of A–Z a–z 0–9 - _ (and = if eq).
func Token(s string, eq bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '=' && eq:
		default:
			return false
		}
	}
	return true
}

// MetaCaller is the key of a task's meta that carries the identity of its
// caller (strand.Caller, writer.Config.Caller), for authorisation.
const MetaCaller = "caller"

// Trace returns the option that carries the W3C traceparent tp to the
// worker as the task's trace (the gateway's "traceparent"); package
// tracing sets it from the span in ctx through the writer's middleware.
// It is applied by strand.Option(opt.Trace(tp)).
func Trace(tp string) func(*Call) {
	return func(c *Call) { c.Given("Trace"); c.Trace = tp }
}
