package reader

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/strand-run/strand/internal/broker"
)

// lanes is what a queue's fetcher knows of its priority lanes: how many
// tasks each still holds, as the server said with its last delivery. A
// free slot asks the high lane first while it holds tasks, then the normal
// lane, and the low lane only once the normal one is empty; a standing
// request for one task on the high and low lanes (watch) finds their tasks
// while every slot waits elsewhere.
type lanes struct {
	high, low  atomic.Int64 // tasks left in the lane (0: empty or unknown)
	normalIdle atomic.Bool  // the normal lane was empty at its last answer
	lowSeen    atomic.Int64 // unix ms when the low lane last held a task
	// fair lanes (Config.Fair): tasks left in each, and the turn
	fairOn bool
	fair   [broker.FairLanes]atomic.Int64
	turn   atomic.Uint32
}

func newLanes() *lanes {
	l := &lanes{}
	l.normalIdle.Store(true)
	return l
}

// pick returns the lane the next n free slots ask, and how many of them.
func (l *lanes) pick(n int) (lane string, k int) {
	if h := l.high.Load(); h > 0 {
		return broker.LaneHigh, int(min(int64(n), h))
	}
	if l.fairOn {
		// The fair lanes and the normal one in turn, one slot each: each
		// key's lane gets its share whatever another's backlog.
		for range broker.FairLanes + 1 {
			i := int(l.turn.Add(1) % (broker.FairLanes + 1))
			if i == broker.FairLanes {
				if !l.normalIdle.Load() {
					return "", 1
				}
				continue
			}
			if l.fair[i].Load() > 0 {
				return broker.FairLaneNames[i], 1
			}
		}
	}
	if lo := l.low.Load(); lo > 0 && l.normalIdle.Load() {
		return broker.LaneLow, int(min(int64(n), lo))
	}
	return "", n
}

// seen records the server's count of what is left in lane after d.
func (l *lanes) seen(lane string, d broker.Delivery) {
	left := d.Pending()
	if left < 0 {
		return
	}
	switch lane {
	case broker.LaneHigh:
		l.high.Store(left)
	case broker.LaneLow:
		l.low.Store(left)
		l.lowSeen.Store(time.Now().UnixMilli())
	case "":
		l.normalIdle.Store(left == 0)
	default:
		if i := fairIndex(lane); i >= 0 {
			l.fair[i].Store(left)
		}
	}
}

// fairIndex is the index of a fair lane, -1 for another lane.
func fairIndex(lane string) int {
	if len(lane) == 2 && lane[0] == 'k' {
		return int(lane[1] - '0')
	}
	return -1
}

// emptied records that a request of lane ended unfilled: the lane is empty.
func (l *lanes) emptied(lane string) {
	switch lane {
	case broker.LaneHigh:
		l.high.Store(0)
	case broker.LaneLow:
		l.low.Store(0)
	case "":
		l.normalIdle.Store(true)
	default:
		if i := fairIndex(lane); i >= 0 {
			l.fair[i].Store(0)
		}
	}
}

// lowActive reports whether the low lane held tasks lately: the normal
// lane's idle requests are then kept short, so that slots come back to
// the low lane soon.
func (l *lanes) lowActive() bool {
	return time.Now().UnixMilli()-l.lowSeen.Load() < 10_000
}

// watch keeps one standing request for one task open on a priority lane
// (high or low) of queue, whose deliveries hold no slot: the task waits
// here and goes to the pool as soon as a pool goroutine is free — a high
// one at once, a low one once the normal lane is empty. One task at most
// waits per lane; the request is made again once it has gone.
func (r *Reader) watch(queue, lane string, l *lanes, jobs chan<- job, stopping <-chan struct{}) {
	log := r.log.With().Str("queue", queue).Str("lane", lane).Logger()
	got := make(chan broker.Delivery, 1)
	ended := make(chan struct{}, 1)
	p, err := r.b.PullLane(queue, lane, fetchWait, false, func(d broker.Delivery) {
		l.seen(lane, d)
		select {
		case got <- d:
		default: // more than asked for: cannot happen, hand it back
			nak(log, d)
		}
	}, func(int) {
		l.emptied(lane)
		select {
		case ended <- struct{}{}:
		default:
		}
	})
	if err != nil {
		log.Error().Err(err).Msg("pulling tasks")
		return
	}
	g := r.gate(queue)
	beat := time.NewTicker(r.cfg.AckWait / 3)
	defer beat.Stop()
	var (
		held    *broker.Delivery
		asked   bool
		stopped bool
		retry   <-chan time.Time
	)
	for !stopped {
		if held == nil && !asked && retry == nil {
			select {
			case <-g.opened():
				if err := p.Request(1); err != nil {
					log.Warn().Err(err).Msg("pulling tasks")
					retry = time.After(time.Second)
				} else {
					asked = true
				}
			default:
				retry = time.After(100 * time.Millisecond) // paused: look again soon
			}
		}
		var out chan<- job
		var j job
		if held != nil && (lane != broker.LaneLow || l.normalIdle.Load()) {
			out, j = jobs, job{msg: *held, queue: queue}
		}
		select {
		case d := <-got:
			held, asked = &d, false
		case <-ended:
			asked = false
		case out <- j:
			held = nil
		case <-retry:
			retry = nil
		case <-beat.C:
			if held != nil {
				_ = held.InProgress()
			}
			p.Sweep()
			if p.Open() == 0 {
				asked = false
			}
		case <-stopping:
			stopped = true
		}
	}
	// End the request (closePullers); what it brought is in got once
	// Close returns, and is handed back with the held task.
	r.closePullers(log, map[string]*broker.Puller{lane: p})
	if held != nil {
		nak(log, *held)
	}
	select {
	case d := <-got:
		nak(log, d)
	default:
	}
}

// A dispenser shares a worker's free slots between its queues when they
// are weighted (Config.QueueWeights) or strict (Config.StrictPriority):
// each free slot goes to a queue that has tasks waiting, the first of them
// by weight when strict, else one drawn with odds by weight (asynq's
// weighted queues); while none is known to have tasks, to each in turn, so
// that every queue keeps asking. Without weights (or with one queue) the
// queues' fetchers take the slots themselves, first come first served.
type dispenser struct {
	on     bool
	slots  chan struct{}
	queues []string // by weight, highest first (stable)
	weight map[string]int
	strict bool
	lanes  map[string]*lanes
	shares map[string]chan struct{}
	next   int
}

func (r *Reader) newDispenser(slots chan struct{}) *dispenser {
	d := &dispenser{slots: slots, lanes: make(map[string]*lanes), weight: make(map[string]int), strict: r.cfg.StrictPriority}
	for _, q := range r.cfg.Queues {
		d.lanes[q] = newLanes()
		d.lanes[q].fairOn = r.cfg.Fair
		d.weight[q] = max(r.cfg.QueueWeights[q], 1)
	}
	d.on = len(r.cfg.Queues) > 1 && (len(r.cfg.QueueWeights) > 0 || r.cfg.StrictPriority)
	if !d.on {
		return d
	}
	d.queues = slices.Clone(r.cfg.Queues)
	slices.SortStableFunc(d.queues, func(a, b string) int { return d.weight[b] - d.weight[a] })
	d.shares = make(map[string]chan struct{})
	for _, q := range d.queues {
		d.shares[q] = make(chan struct{}, cap(slots))
	}
	return d
}

// take is where queue's fetcher takes its slots.
func (d *dispenser) take(queue string) <-chan struct{} {
	if !d.on {
		return d.slots
	}
	return d.shares[queue]
}

func (d *dispenser) run(stopping <-chan struct{}) {
	for {
		select {
		case <-stopping:
			return
		case <-d.slots:
		}
		q := d.pick()
		select {
		case d.shares[q] <- struct{}{}:
		case <-stopping:
			return
		}
	}
}

// pick is the queue the next free slot goes to.
func (d *dispenser) pick() string {
	var busy []string
	total := 0
	for _, q := range d.queues {
		l := d.lanes[q]
		if !l.normalIdle.Load() || l.high.Load() > 0 || l.low.Load() > 0 || l.anyFair() {
			if d.strict {
				return q
			}
			busy = append(busy, q)
			total += d.weight[q]
		}
	}
	if len(busy) == 0 {
		d.next = (d.next + 1) % len(d.queues)
		return d.queues[d.next]
	}
	n := rand.IntN(total)
	for _, q := range busy {
		if n -= d.weight[q]; n < 0 {
			return q
		}
	}
	return busy[len(busy)-1]
}

// anyFair reports whether a fair lane holds tasks.
func (l *lanes) anyFair() bool {
	for i := range l.fair {
		if l.fair[i].Load() > 0 {
			return true
		}
	}
	return false
}
