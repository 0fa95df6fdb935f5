package broker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
)

// A publish (or request) to a subject the user may not publish to gets no
// answer: the server drops it and tells the connection, asynchronously,
// "-ERR 'Permissions Violation for Publish to "<subject>"'", which nats.go
// hands to the connection's error handler. Without help a call waiting for
// the answer would wait for its timeout and then retry, as for a stream
// without a leader. denials is that help: the broker's error handler feeds
// it every violation, and a waiting call watches the subjects it sent to,
// so that it fails at once with an error wrapping strand.ErrForbidden.
type denials struct {
	mu      sync.Mutex
	next    uint64
	watches map[uint64]*watch

	seen     error            // the last violation the error handler saw
	seenNext chan struct{}    // closed, and replaced, when it sees one
	subs     map[string]error // the last refusal of each subscription's subject
}

// maxRefusedSubs bounds denials.subs: when full it starts again.
const maxRefusedSubs = 1024

// A watch is one waiting call's interest in refusals of some subjects.
type watch struct {
	mu       sync.Mutex
	subjects map[string]chan error // exact subjects (a wildcard token matches any token)
	on       func(error)           // called once, with the first refusal, if set
}

var (
	publishViolation   = regexp.MustCompile(`Publish to "([^"]+)"`)
	subscribeViolation = regexp.MustCompile(`Subscription to "([^"]+)"`)
)

// observe is the connection's error handler's part: it hands a publish
// violation to the calls that wait for an answer from that subject.
func (d *denials) observe(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen = err
	if d.seenNext != nil {
		close(d.seenNext)
		d.seenNext = nil
	}
	if m := subscribeViolation.FindStringSubmatch(err.Error()); m != nil {
		if d.subs == nil || len(d.subs) >= maxRefusedSubs {
			d.subs = make(map[string]error)
		}
		d.subs[m[1]] = err
		return
	}
	m := publishViolation.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	subject := m[1]
	refused := fmt.Errorf("%w: the server refuses this user to publish to %s (%w)", strand.ErrForbidden, subject, err)
	for _, w := range d.watches {
		w.refuse(subject, refused)
	}
}

func (w *watch) refuse(subject string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for pattern, ch := range w.subjects {
		if !subjectMatch(pattern, subject) {
			continue
		}
		select {
		case ch <- err:
		default: // refused already
		}
		if w.on != nil {
			w.on(err)
			w.on = nil
		}
	}
}

// watch starts a watch of subjects (more can be added), calling on (if
// not nil) with the first refusal; stop ends it.
func (d *denials) watch(on func(error), subjects ...string) (w *watch, stop func()) {
	w = &watch{subjects: make(map[string]chan error, len(subjects)), on: on}
	for _, s := range subjects {
		w.add(s)
	}
	d.mu.Lock()
	if d.watches == nil {
		d.watches = make(map[uint64]*watch)
	}
	d.next++
	id := d.next
	d.watches[id] = w
	d.mu.Unlock()
	return w, func() {
		d.mu.Lock()
		delete(d.watches, id)
		d.mu.Unlock()
	}
}

// add watches one more subject; add it before publishing to it.
func (w *watch) add(subject string) {
	w.mu.Lock()
	if w.subjects[subject] == nil {
		w.subjects[subject] = make(chan error, 1)
	}
	w.mu.Unlock()
}

// of is the channel that receives the refusal of subject (nil, which
// blocks, if subject is not watched).
func (w *watch) of(subject string) <-chan error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.subjects[subject]
}

// subjectMatch reports whether subject matches pattern, token by token,
// with NATS wildcards in pattern ("*" one token, ">" the rest).
func subjectMatch(pattern, subject string) bool {
	for {
		p, prest, pmore := strings.Cut(pattern, ".")
		s, srest, smore := strings.Cut(subject, ".")
		switch {
		case p == ">":
			return true
		case p != "*" && p != s:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// refusable returns a ctx that also ends when the server refuses a publish
// to one of subjects (patterns, for names a library makes up, such as an
// ordered consumer's) on this connection; refused then says why.
func (b *Broker) refusable(ctx context.Context, subjects ...string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	_, stop := b.denials.watch(cancel, subjects...)
	return ctx, func() { stop(); cancel(nil) }
}

// refused returns the refusal that ended ctx (see refusable), or err when
// it was not one.
func refused(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, strand.ErrForbidden) {
		return cause
	}
	return err
}

// Subscribe subscribes to subject and makes sure the server took the
// subscription: a subscription the user may not make is refused
// asynchronously, like a publish, and would otherwise never deliver
// anything. It returns an error wrapping strand.ErrForbidden then.
func (b *Broker) Subscribe(subject string, cb nats.MsgHandler) (*nats.Subscription, error) {
	return b.subscribed(subject, func() (*nats.Subscription, error) { return b.conn.Subscribe(subject, cb) })
}

// ChanSubscribe is Subscribe for a channel.
func (b *Broker) ChanSubscribe(subject string, ch chan *nats.Msg) (*nats.Subscription, error) {
	return b.subscribed(subject, func() (*nats.Subscription, error) { return b.conn.ChanSubscribe(subject, ch) })
}

// subscribed makes the subscription and checks that the server took it.
func (b *Broker) subscribed(subject string, subscribe func() (*nats.Subscription, error)) (*nats.Subscription, error) {
	before := b.conn.LastError()
	sub, err := subscribe()
	if err != nil {
		return nil, err
	}
	if err := b.checkSubscribed(subject, before); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}

// checkSubscribed flushes, so that the server has answered the SUB, and
// looks at the connection's last error: nats.go sets it on its reading
// goroutine when the refusal arrives, before the flush's PONG, while the
// error handler runs later on another goroutine. before is the last error
// from before the SUB: the same value again is no news. When another
// violation came after the SUB's, the error handler, which sees them in
// order, has seen the SUB's once it has seen that one.
func (b *Broker) checkSubscribed(subject string, before error) error {
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	last := b.conn.LastError()
	if last == nil || last == before || !errors.Is(last, nats.ErrPermissionViolation) {
		return nil
	}
	refusal := last
	if m := subscribeViolation.FindStringSubmatch(last.Error()); m == nil || m[1] != subject {
		refusal = b.denials.subRefusal(subject, last, time.Second)
	}
	if refusal == nil || refusal == before {
		return nil
	}
	return fmt.Errorf("%w: the server refuses this user to subscribe to %s (%w)", strand.ErrForbidden, subject, refusal)
}

// subRefusal waits (up to timeout) until the error handler has seen the
// violation last, and returns the last refusal of a subscription to
// subject it saw, if any.
func (d *denials) subRefusal(subject string, last error, timeout time.Duration) error {
	deadline := time.After(timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.seen != last {
		if d.seenNext == nil {
			d.seenNext = make(chan struct{})
		}
		next := d.seenNext
		d.mu.Unlock()
		select {
		case <-next:
		case <-deadline:
			d.mu.Lock()
			return d.subs[subject]
		}
		d.mu.Lock()
	}
	return d.subs[subject]
}

// watchDenials installs the broker's error handler on nc, in front of the
// one it had (nats.go's default prints to stderr), which still gets every
// error.
func (b *Broker) watchDenials(nc *nats.Conn) {
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		b.denials.observe(err)
		if prev != nil {
			prev(c, s, err)
		}
	})
}
