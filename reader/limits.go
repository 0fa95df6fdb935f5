package reader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// A Limit caps, across every worker of the fleet, the tasks of a function
// per key: at most Max running at once, and/or at most Rate starts per
// Per. A task over a limit waits — it is not a failed attempt — and the
// worker takes other tasks meanwhile. Workers that share a queue should
// have the same limits.
type Limit struct {
	// Func is the function it limits ("" or "*": every function).
	Func string
	// Key says where a task's key comes from: "" counts per function (the
	// function name is the key), "key" the task's flow key (strand.Key,
	// strand submit --key), "meta:NAME" a meta field, "kwarg:NAME" a
	// keyword argument. Tasks without one share the key "_".
	Key string
	// Max is how many tasks with one key may run at once (0: no such cap).
	Max int
	// Rate is how many tasks with one key may start per Per (0: no cap).
	Rate int
	// Per is Rate's interval (1ms to 30m).
	Per time.Duration
}

// name is the limit's name in flow records: <func>.<source>.
func (l Limit) name() string {
	fn := l.Func
	if fn == "" || fn == "*" {
		fn = "_"
	}
	src := "fn"
	if l.Key != "" {
		src = strings.ReplaceAll(l.Key, ":", "-")
	}
	return fn + "." + src
}

// label is how errors and waiting states name the limit: its function
// ("*" for all) and its key source.
func (l Limit) label() string {
	s := l.Func
	if s == "" {
		s = "*"
	}
	if l.Key != "" {
		s += " by " + l.Key
	}
	return s
}

// check refuses a limit that cannot work.
func (l Limit) check() error {
	switch {
	case l.Max < 0 || l.Rate < 0:
		return fmt.Errorf("limit %s: max %d and rate %d must not be negative", l.label(), l.Max, l.Rate)
	case l.Max == 0 && l.Rate == 0:
		return fmt.Errorf("limit %s: a limit of 0: set Max or Rate to at least 1", l.label())
	case l.Rate > 0 && (l.Per < time.Millisecond || l.Per > broker.MaxRatePer):
		return fmt.Errorf("limit %s: rate interval %v out of [1ms, %v]", l.label(), l.Per, broker.MaxRatePer)
	case l.Func != "" && l.Func != "*" && codec.ValidKey(l.Func) != nil:
		return fmt.Errorf("limit %s: function name %q is not one subject token", l.label(), l.Func)
	}
	switch src, name, _ := strings.Cut(l.Key, ":"); {
	case l.Key == "" || l.Key == "key":
	case (src == "meta" || src == "kwarg") && codec.ValidQueue(name) == nil:
	default:
		return fmt.Errorf("limit %s: key source %q: want \"\", key, meta:NAME or kwarg:NAME", l.label(), l.Key)
	}
	return nil
}

// keyOf is the task's key for l, as one subject token: a value that is not
// one is hashed.
func (l Limit) keyOf(env *codec.Envelope, f codec.Format) string {
	var v string
	switch src, name, _ := strings.Cut(l.Key, ":"); {
	case l.Key == "":
		v = env.Func
	case l.Key == "key":
		v = env.Key
	case src == "meta":
		v = env.Meta[name]
	case src == "kwarg":
		if len(env.Kwargs) > 0 {
			var kw map[string]any
			if f.Unmarshal(env.Kwargs, &kw) == nil && kw[name] != nil {
				v = fmt.Sprint(kw[name])
			}
		}
	}
	if v == "" {
		return "_"
	}
	if codec.ValidKey(v) != nil || len(v) > 64 {
		sum := sha256.Sum256([]byte(v))
		return "h-" + hex.EncodeToString(sum[:12])
	}
	return v
}

func (l Limit) applies(fn string) bool { return l.Func == "" || l.Func == "*" || l.Func == fn }

// claim is what a task holds of its limits while it runs.
type claim struct {
	leases []*broker.Lease
	slots  []string // each lease's limit and key, for the worker's spares
	lines  []string // the room's lines of its limits' keys, woken at release
	room   *room
	spares *spares
	stop   chan struct{}
	done   sync.WaitGroup
}

// spareLinger is how long a slot a task of this worker gave back stays
// with the worker, for its next task of the same key to take without a
// write, before it is released for the fleet.
const spareLinger = 5 * time.Millisecond

// spares are the slots this worker's tasks gave back in the last
// spareLinger: still held on the server, taken again at no cost.
type spares struct {
	mu    sync.Mutex
	byKey map[string][]*broker.Lease
}

// put keeps l for key a moment, then releases it unless a task took it.
func (sp *spares) put(key string, l *broker.Lease) {
	sp.mu.Lock()
	if sp.byKey == nil {
		sp.byKey = make(map[string][]*broker.Lease)
	}
	sp.byKey[key] = append(sp.byKey[key], l)
	sp.mu.Unlock()
	time.AfterFunc(spareLinger, func() {
		if sp.remove(key, l) {
			l.Release()
		}
	})
}

// take returns a spare slot of key, if there is one.
func (sp *spares) take(key string) *broker.Lease {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	ls := sp.byKey[key]
	if len(ls) == 0 {
		return nil
	}
	l := ls[len(ls)-1]
	if len(ls) == 1 {
		delete(sp.byKey, key)
	} else {
		sp.byKey[key] = ls[:len(ls)-1]
	}
	return l
}

func (sp *spares) remove(key string, l *broker.Lease) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	ls := sp.byKey[key]
	for i, x := range ls {
		if x == l {
			ls = append(ls[:i:i], ls[i+1:]...)
			if len(ls) == 0 {
				delete(sp.byKey, key)
			} else {
				sp.byKey[key] = ls
			}
			return true
		}
	}
	return false
}

// flush releases every spare slot (the worker stops).
func (sp *spares) flush() {
	sp.mu.Lock()
	all := sp.byKey
	sp.byKey = nil
	sp.mu.Unlock()
	for _, ls := range all {
		for _, l := range ls {
			l.Release()
		}
	}
}

// release frees the task's slots.
func (c *claim) release(b *broker.Broker) {
	if c == nil {
		return
	}
	close(c.stop)
	c.done.Wait()
	for i, l := range c.leases {
		c.spares.put(c.slots[i], l)
	}
	for _, line := range c.lines {
		c.room.wake(line)
	}
}

// admit takes what the task needs of the worker's limits: a slot of each
// Max and a start of each Rate. It returns nil, "" when none applies; a
// claim when every one is granted; or why the task must wait.
func (r *Reader) admit(ctx context.Context, t *task) (*claim, string, time.Time, error) {
	var c *claim
	var wait string
	var next time.Time
	for _, l := range r.cfg.Limits {
		if !l.applies(t.env.Func) {
			continue
		}
		key := l.keyOf(t.env, t.format)
		if c == nil {
			c = &claim{stop: make(chan struct{}), room: &r.room, spares: &r.spares}
		}
		if l.Max > 0 {
			c.lines = append(c.lines, fmt.Sprintf("limit: %s=%s", l.label(), key))
			slot := l.name() + "=" + key
			lease := r.spares.take(slot)
			var err error
			if lease == nil {
				lease, err = r.b.AcquireLease(ctx, l.name(), key, l.Max, rand.IntN(l.Max), r.cfg.WorkerID+"/"+t.id, r.cfg.AckWait)
			}
			if lease != nil {
				c.slots = append(c.slots, slot)
			}
			if err != nil || lease == nil {
				c.giveBack(r.b)
				if err != nil {
					return nil, "", time.Time{}, err
				}
				return nil, fmt.Sprintf("limit: %s=%s: %d running", l.label(), key, l.Max), time.Time{}, nil
			}
			c.leases = append(c.leases, lease)
		}
		if l.Rate > 0 {
			ok, at, err := r.b.TakeRate(ctx, l.name(), key, l.Rate, l.Per)
			if err != nil || !ok {
				c.giveBack(r.b)
				if err != nil {
					return nil, "", time.Time{}, err
				}
				wait, next = fmt.Sprintf("rate: %s=%s: %d per %v", l.label(), key, l.Rate, l.Per), at
				return nil, wait, next, nil
			}
		}
	}
	if c != nil && len(c.leases) > 0 {
		c.done.Go(func() { c.keepAlive(r.b, r.cfg.AckWait/3) })
	}
	return c, "", time.Time{}, nil
}

// giveBack frees the leases of a claim that could not be completed.
func (c *claim) giveBack(b *broker.Broker) {
	for i, l := range c.leases {
		c.spares.put(c.slots[i], l)
	}
	c.leases, c.slots = nil, nil
}

// keepAlive refreshes the leases while the task runs, as its heartbeat
// keeps the task.
func (c *claim) keepAlive(b *broker.Broker, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			for _, l := range c.leases {
				_ = l.Refresh(ctx)
			}
			cancel()
		}
	}
}

// waiting is a task held back by a limit: it waits here, its slot given
// to other tasks, until the limit lets it start.
type waiting struct {
	t      *task
	j      job
	reason string
	next   time.Time // a rate's next window; zero for a concurrency limit
}

// room holds the tasks waiting for their limits, one line per reason's
// key: only the head of a line asks again, so that a backlog of one key
// costs one attempt per try, not one per task.
type room struct {
	mu     sync.Mutex
	lines  map[string][]*waiting
	wakes  map[string]chan struct{} // per line: a slot of its key came free here
	wg     sync.WaitGroup
	closed bool // the worker stops: nothing more is parked
}

// wake tells line's goroutine that a slot of its key came free.
func (rm *room) wake(line string) {
	rm.mu.Lock()
	ch := rm.wakes[line]
	rm.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// park puts a task that must wait in its line; the line's goroutine starts
// it once its limits admit it.
func (r *Reader) park(w *waiting, urgent chan<- job) {
	rm := &r.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.closed {
		nak(w.t.log, w.t.msg) // the worker stops: another worker takes it later
		return
	}
	if rm.lines == nil {
		rm.lines = make(map[string][]*waiting)
		rm.wakes = make(map[string]chan struct{})
	}
	line := w.reason
	if i := strings.LastIndex(line, ": "); i > 0 {
		line = line[:i] // the limit and key, without the count
	}
	rm.lines[line] = append(rm.lines[line], w)
	if len(rm.lines[line]) == 1 {
		wake := make(chan struct{}, 1)
		rm.wakes[line] = wake
		rm.wg.Go(func() { r.serveLine(line, wake, urgent) })
	}
}

// serveLine admits the line's tasks in order: each try takes the head's
// limits; one that is admitted goes to the pool first of all.
func (r *Reader) serveLine(line string, wake chan struct{}, urgent chan<- job) {
	rm := &r.room
	beat := time.NewTicker(r.cfg.AckWait / 3)
	defer beat.Stop()
	backoff := time.Millisecond
	for {
		rm.mu.Lock()
		ws := rm.lines[line]
		if len(ws) == 0 {
			delete(rm.lines, line)
			delete(rm.wakes, line)
			rm.mu.Unlock()
			return
		}
		head := ws[0]
		rm.mu.Unlock()

		// Ask again soon, then less often (a slot held elsewhere comes free
		// when its task ends, or its lease expires); at once when one of
		// this worker's tasks of the key ends.
		pause := backoff + time.Duration(rand.Int64N(int64(backoff)))
		backoff = min(2*backoff, 100*time.Millisecond)
		if !head.next.IsZero() {
			pause = time.Until(head.next) + time.Duration(rand.IntN(5))*time.Millisecond
		}
		select {
		case <-r.stopping:
			rm.mu.Lock()
			ws := rm.lines[line]
			delete(rm.lines, line)
			rm.mu.Unlock()
			for _, w := range ws {
				nak(w.t.log, w.t.msg) // another worker takes it later
			}
			return
		case <-beat.C:
			rm.mu.Lock()
			for _, w := range rm.lines[line] {
				_ = w.t.msg.InProgress()
			}
			rm.mu.Unlock()
			continue
		case <-wake:
		case <-time.After(pause):
		}
		if r.isCancelled(head.t.queue, head.t.id) {
			r.unpark(line, head)
			_ = head.t.msg.Ack() // cancelled while it waited
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/3)
		c, reason, next, err := r.admit(ctx, head.t)
		cancel()
		if err != nil {
			head.t.log.Warn().Err(err).Msg("limits")
			continue
		}
		if reason != "" {
			head.next = next
			continue
		}
		backoff = time.Millisecond
		r.unpark(line, head)
		j := head.j
		j.claim, j.slots = c, nil
		select {
		case urgent <- j:
		case <-r.stopping:
			c.release(r.b)
			nak(head.t.log, head.t.msg)
		}
	}
}

func (r *Reader) unpark(line string, w *waiting) {
	rm := &r.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	ws := rm.lines[line]
	for i, x := range ws {
		if x == w {
			rm.lines[line] = append(ws[:i:i], ws[i+1:]...)
			return
		}
	}
}

// waitingState is the state record of a task waiting for its limits.
func (r *Reader) waitingState(t *task, reason string) *codec.State {
	return &codec.State{
		Status: strand.StatusPending, Func: t.env.Func, Queue: t.queue,
		Attempt: t.attempt, Worker: r.cfg.WorkerID, Waiting: reason,
	}
}

// closeRoom stops parking and waits for the lines, which hand their
// tasks back once the worker stops.
func (r *Reader) closeRoom() {
	r.room.mu.Lock()
	r.room.closed = true
	r.room.mu.Unlock()
	r.room.wg.Wait()
}

// flushSpares releases the slots the worker still keeps (it stops).
func (r *Reader) flushSpares() { r.spares.flush() }
