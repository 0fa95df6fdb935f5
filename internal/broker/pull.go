package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A Delivery is one task delivered by a queue's consumer: its message and
// the ways to answer it.
type Delivery struct {
	m    *nats.Msg
	meta *nats.MsgMetadata // parsed from the reply subject once (nil if it did not parse)
}

// newDelivery is a delivery of m, its metadata parsed once for Attempt
// and Pending (each would parse the reply subject again).
func newDelivery(m *nats.Msg) Delivery {
	meta, _ := m.Metadata()
	return Delivery{m: m, meta: meta}
}

// Subject is the task's subject, <prefix>.t.<queue>.<id>.
func (d Delivery) Subject() string { return d.m.Subject }

// Data is the encoded envelope.
func (d Delivery) Data() []byte { return d.m.Data }

// Headers are the task message's headers.
func (d Delivery) Headers() nats.Header { return d.m.Header }

// Attempt is how many times the consumer has delivered the task, this time
// included (1 for the first).
func (d Delivery) Attempt() int {
	if d.meta != nil {
		return int(d.meta.NumDelivered)
	}
	return 1
}

// Pending is how many tasks the consumer still held undelivered when it
// delivered this one (-1 if unknown).
func (d Delivery) Pending() int64 {
	if d.meta != nil {
		return int64(d.meta.NumPending)
	}
	return -1
}

// Published is when the server stored the task (zero if unknown).
func (d Delivery) Published() time.Time {
	if d.meta != nil {
		return d.meta.Timestamp
	}
	return time.Time{}
}

// Ack answers the task for good: the work queue removes it.
func (d Delivery) Ack() error { return d.m.Ack() }

// Term answers the task for good without success; it is removed too.
func (d Delivery) Term() error { return d.m.Term() }

// Nak hands the task back for redelivery now.
func (d Delivery) Nak() error { return d.m.Nak() }

// NakWithDelay hands the task back for redelivery after delay.
func (d Delivery) NakWithDelay(delay time.Duration) error { return d.m.NakWithDelay(delay) }

// InProgress tells the server the task is still being worked on: its
// AckWait starts again.
func (d Delivery) InProgress() error { return d.m.InProgress() }

// A Puller takes tasks from one queue's consumer for the slots a worker
// grants it, on one subscription that lives as long as the Puller: each
// grant is one pull request for that many tasks, so no task is delivered
// to a worker that has no slot waiting for it, and asking costs one
// message, not a subscription per fetch.
type Puller struct {
	b        *Broker
	subject  string // the consumer's next-message API subject
	consumer string // the consumer's name
	sub      *nats.Subscription
	expires  time.Duration
	priority int
	refused  *watch // the server's refusal of the pull requests (denied.go)
	unwatch  func()

	mu      sync.Mutex
	pending []*request // open pull requests, oldest first
	err     error      // the server's refusal of a request, once it came
}

type request struct {
	left     int // tasks the server may still deliver for it
	deadline time.Time
}

// pullGroup is the priority group every pull request names: the queues'
// consumers use the prioritized policy, so that the server fills requests
// for free slots before any request for prefetch.
const pullGroup = "strand"

// Pull returns a Puller for queue's consumer (EnsureQueue makes it).
// Delivered tasks go to deliver, and slots the server will not fill (a
// request that expired unfilled) to release, both on the subscription's
// goroutine; a pull request waits up to expires for tasks. A prefetch
// Puller's requests rank below every request for a free slot, of any
// worker: the server fills them only while no free slot waits, so a worker
// prefetches only tasks that no idle worker could run at that moment.
func (b *Broker) Pull(queue string, expires time.Duration, prefetch bool, deliver func(Delivery), release func(n int)) (*Puller, error) {
	return b.PullLane(queue, "", expires, prefetch, deliver, release)
}

// PullLane is Pull for one priority lane of queue ("" is the normal lane).
func (b *Broker) PullLane(queue, lane string, expires time.Duration, prefetch bool, deliver func(Delivery), release func(n int)) (*Puller, error) {
	p := &Puller{
		b:        b,
		subject:  "$JS.API.CONSUMER.MSG.NEXT." + b.names.TasksStream() + "." + b.names.LaneConsumer(queue, lane),
		consumer: b.names.LaneConsumer(queue, lane),
		expires:  expires,
	}
	if prefetch {
		p.priority = 1
	}
	sub, err := b.conn.Subscribe(b.conn.NewInbox(), func(m *nats.Msg) {
		if n := p.receive(m); n > 0 {
			release(n)
		} else if n == 0 {
			deliver(newDelivery(m))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", queue, err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	p.sub = sub
	p.refused, p.unwatch = b.denials.watch(nil, p.subject)
	return p, nil
}

// receive accounts for one message: 0 for a task, the number of slots to
// release for the end of a request, or -1 for a message to ignore.
func (p *Puller) receive(m *nats.Msg) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	status := ""
	if len(m.Data) == 0 && m.Header != nil {
		status = m.Header.Get(headerStatus)
	}
	switch status {
	case "":
		if len(p.pending) > 0 {
			if p.pending[0].left--; p.pending[0].left <= 0 {
				p.pending = p.pending[1:]
			}
		}
		return 0
	case "100": // an idle heartbeat
		return -1
	}
	// A request ended unfilled (408 expired, 409 leadership change, …):
	// its pending count says how many tasks it will not bring.
	if len(p.pending) == 0 {
		return -1
	}
	r := p.pending[0]
	p.pending = p.pending[1:]
	n := r.left
	if s := m.Header.Get("Nats-Pending-Messages"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v <= n {
			n = v
		}
	}
	return n
}

// Request asks for n tasks. Once the server has refused a request (the
// user may not pull from the queue), it fails at once with an error
// wrapping strand.ErrForbidden, and Sweep hands back the slots of the
// requests that were open.
func (p *Puller) Request(n int) error { return p.RequestFor(n, p.expires) }

// RequestFor is Request with a request that waits up to expires for tasks.
func (p *Puller) RequestFor(n int, expires time.Duration) error {
	if err := p.refusal(); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	body := pullBody(n, expires, p.priority)
	p.mu.Lock()
	p.pending = append(p.pending, &request{left: n, deadline: time.Now().Add(expires)})
	p.mu.Unlock()
	if err := p.b.conn.PublishRequest(p.subject, p.sub.Subject, body); err != nil {
		p.mu.Lock()
		p.pending = p.pending[:len(p.pending)-1]
		p.mu.Unlock()
		return fmt.Errorf("pull: %w", err)
	}
	return nil
}

// Sweep ends the requests whose end never came (a reconnect loses the
// server's side of them): their deadline passed a second ago. It returns
// their slots, for the caller to release.
func (p *Puller) Sweep() (stale int) {
	now := time.Now()
	refused := p.refusal() != nil
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.pending) > 0 && (refused || now.After(p.pending[0].deadline.Add(time.Second))) {
		stale += p.pending[0].left
		p.pending = p.pending[1:]
	}
	return stale
}

// Open is how many tasks the open requests may still bring.
func (p *Puller) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.pending {
		n += r.left
	}
	return n
}

// Requests is how many of the Puller's pull requests are open.
func (p *Puller) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Waiting is how many pull requests wait at the consumer of queue's lane
// (LaneHigh, LaneLow, or "" for the normal one), every worker's: one
// consumer info round trip. The server drops expired requests first.
func (b *Broker) Waiting(ctx context.Context, queue, lane string) (int, error) {
	consumer := b.names.LaneConsumer(queue, lane)
	ctx, done := b.refusable(ctx, "$JS.API.CONSUMER.INFO."+b.names.TasksStream()+"."+consumer)
	defer done()
	c, err := b.js.Consumer(ctx, b.names.TasksStream(), consumer)
	if err != nil {
		return 0, fmt.Errorf("consumer of %s: %w", queue, refused(ctx, err))
	}
	return c.CachedInfo().NumWaiting, nil
}

// Stop ends the subscription. Tasks the server sends after it are
// redelivered after AckWait: stop once no request is open, or Close.
func (p *Puller) Stop() error {
	p.unwatch()
	return p.sub.Unsubscribe()
}

// Close ends the Puller, open requests and all, losing no task, and
// returns once no task can come for its requests any more and every task
// that came has gone to deliver (which may take its time: Close waits for
// it, up to timeout): deliver is not called again, and a task handed back
// (nak) now goes to another worker, not straight back to one of this
// Puller's requests.
//
// When the consumer's leader is the server this connection is on (always
// on a single server), Close withdraws the subscription's interest at once
// (the server drops a pull request that no one listens to, and hands a
// task it could not deliver for want of interest to the next request at
// once, its delivery uncounted). When the leader is another node, a
// withdrawal with requests open is not safe: a task the leader sends over
// its route while the withdrawal is on its way to it would be dropped here
// and wait out AckWait. Close then first waits, as a Puller always did,
// for the open requests to end (they expire within their wait). Either
// way it then drains the subscription: what the server sent before goes to
// deliver, and only then is the subscription gone.
func (p *Puller) Close(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if !p.leaderHere(timeout) {
		for p.Open() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	p.unwatch()
	done := make(chan struct{})
	p.sub.SetClosedHandler(func(string) { close(done) })
	if err := p.sub.Drain(); err != nil {
		_ = p.sub.Unsubscribe()
		return fmt.Errorf("pull: close: %w", err)
	}
	select {
	case <-done:
	case <-time.After(max(time.Until(deadline), time.Second)):
		_ = p.sub.Unsubscribe()
		return fmt.Errorf("pull: close: tasks still coming after %v", timeout)
	}
	p.mu.Lock()
	p.pending = nil
	p.mu.Unlock()
	return nil
}

// leaderHere reports whether the consumer's leader is the server this
// connection is on: true without a cluster, false when it cannot tell.
func (p *Puller) leaderHere(timeout time.Duration) bool {
	nc := p.b.conn
	if nc.ConnectedClusterName() == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, 2*time.Second))
	defer cancel()
	c, err := p.b.js.Consumer(ctx, p.b.names.TasksStream(), p.consumer)
	if err != nil {
		return false
	}
	info := c.CachedInfo()
	return info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader == nc.ConnectedServerName()
}

// refusal is the server's refusal of a pull request, once it came.
func (p *Puller) refusal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		select {
		case p.err = <-p.refused.of(p.subject):
		default:
		}
	}
	return p.err
}

// pullBody is a pull request's body: the JSON that encoding/json makes of
// {batch, expires (ns), group, priority (omitted when 0)}, byte for byte,
// without its reflection and allocations (one request per freed slot).
func pullBody(n int, expires time.Duration, priority int) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `{"batch":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"expires":`...)
	b = strconv.AppendInt(b, int64(expires), 10)
	b = append(b, `,"group":"`+pullGroup+`"`...)
	if priority != 0 {
		b = append(b, `,"priority":`...)
		b = strconv.AppendInt(b, int64(priority), 10)
	}
	return append(b, '}')
}
