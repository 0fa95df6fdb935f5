package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Lease is one of a limit's slots for one key, held by a running task:
// the flow record l.<limit>.<key>.<slot>, written with a TTL, so that the
// slot of a worker that dies comes back when its lease expires.
type Lease struct {
	b        *Broker
	slots    *slotBook
	subject  string
	mu       sync.Mutex
	rev      uint64
	ttl      time.Duration
	released bool
	Slot     int // which of the limit's slots it holds
}

// LeaseKey is the flow record of one slot of a limit for key.
func (n Names) LeaseKey(limit, key string, slot int) string {
	return "l." + limit + "." + key + "." + strconv.Itoa(slot)
}

// leaseFree is the payload of a slot's record once its lease is released.
const leaseFree = "free"

// freeTTL is how long a released slot's record stays: then the subject is
// empty again (or holds the server's marker), as a slot never used.
const freeTTL = time.Hour

// slotBook is what this process knows of slots' last records: the
// sequence of the free record its own release wrote, so that taking the
// slot again is one write that expects it.
type slotBook struct {
	mu   sync.Mutex
	free map[string]jetstream.PubAckFuture // subject → the release's write
}

func (s *slotBook) expect(subject string) uint64 {
	s.mu.Lock()
	f := s.free[subject]
	delete(s.free, subject)
	s.mu.Unlock()
	if f == nil {
		return 0
	}
	select {
	case ack := <-f.Ok():
		return ack.Sequence
	case <-f.Err():
	case <-time.After(time.Second):
	}
	return 0
}

func (s *slotBook) released(subject string, f jetstream.PubAckFuture) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.free == nil {
		s.free = make(map[string]jetstream.PubAckFuture)
	}
	if len(s.free) > 1<<16 {
		clear(s.free)
	}
	s.free[subject] = f
}

// AcquireLease takes one of max slots of limit for key, for holder, with a
// TTL: a write of the slot's record that expects it free (absent, a marker,
// or released), tried from slot first on. It returns nil (and no error)
// when every slot is held.
func (b *Broker) AcquireLease(ctx context.Context, limit, key string, max, first int, holder string, ttl time.Duration) (*Lease, error) {
	if _, err := b.Flow(ctx); err != nil {
		return nil, err
	}
	stream := "KV_" + b.names.FlowBucket()
	for i := range max {
		slot := (first + i) % max
		k := b.names.LeaseKey(limit, key, slot)
		msg := &nats.Msg{Subject: b.names.FlowSubject(k), Data: []byte(holder), Header: nats.Header{}}
		msg.Header.Set(headerTTL, ttl.String())
		expect := b.leaseSlots.expect(msg.Subject)
		for try := 0; try < 3; try++ {
			msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
			ack, err := b.js.PublishMsg(ctx, msg)
			if err == nil {
				return &Lease{b: b, slots: &b.leaseSlots, subject: msg.Subject, rev: ack.Sequence, ttl: ttl, Slot: slot}, nil
			}
			if !wrongLastSeq(err) {
				return nil, fmt.Errorf("lease %s: %w", k, refusal(err, k))
			}
			// Held, or free in a way this process did not write: read it.
			last, gerr := b.getLast(ctx, stream, msg.Subject)
			if gerr != nil {
				return nil, fmt.Errorf("lease %s: %w", k, gerr)
			}
			if last != nil && !IsMarker(last.Header, last.Data) && string(last.Data) != leaseFree {
				break // held
			}
			expect = 0
			if last != nil {
				expect = last.Seq
			}
		}
	}
	return nil, nil
}

// Refresh writes the lease again with a new TTL, expecting its last
// revision: a lease that expired meanwhile (and may be another's now) is
// not taken back.
func (l *Lease) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	msg := &nats.Msg{Subject: l.subject, Data: []byte("refreshed"), Header: nats.Header{}}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(l.rev, 10))
	msg.Header.Set(headerTTL, l.ttl.String())
	ack, err := l.b.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("refresh lease %s: %w", l.subject, err)
	}
	l.rev = ack.Sequence
	return nil
}

// Release frees the slot without waiting: a write of the free record that
// expects the lease's revision (a lease that expired and was taken since
// is left alone). This process takes the slot again with one write.
func (l *Lease) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	msg := &nats.Msg{Subject: l.subject, Data: []byte(leaseFree), Header: nats.Header{}}
	msg.Header.Set(headerTTL, freeTTL.String())
	f, err := l.b.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequencePerSubject(l.rev))
	if err == nil {
		l.slots.released(l.subject, f)
	}
}

// RatesStream is the counter stream of rate limits' windows.
func (n Names) RatesStream() string { return n.bucket + "_RATES" }

// RateSubject is the counter of starts of limit for key in one window.
func (n Names) RateSubject(limit, key string, window int64) string {
	return n.prefix + ".rate." + limit + "." + key + "." + strconv.FormatInt(window, 10)
}

// MaxRatePer is the longest interval of a rate limit: the counters of the
// rates stream are kept twice that long.
const MaxRatePer = 30 * time.Minute

type ratesStream struct {
	once sync.Mutex
	ok   bool
}

// rates makes the counter stream when it is missing: limits retention,
// counters (Nats-Incr), one message per subject, kept 2 × MaxRatePer.
func (b *Broker) rates(ctx context.Context) error {
	b.ratesMade.once.Lock()
	defer b.ratesMade.once.Unlock()
	if b.ratesMade.ok {
		return nil
	}
	name := b.names.RatesStream()
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.>")
	defer stop()
	_, err := b.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = CreateRetrying(ctx, func() (jetstream.Stream, error) {
			return b.js.CreateStream(ctx, jetstream.StreamConfig{
				Name:              name,
				Description:       "strand rate limits: one counter per limit, key and window",
				Subjects:          []string{b.names.prefix + ".rate.>"},
				Storage:           jetstream.FileStorage,
				Replicas:          b.cfg.Replicas,
				MaxMsgsPerSubject: 1,
				MaxAge:            2 * MaxRatePer,
				AllowMsgCounter:   true,
				AllowDirect:       true,
			})
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err = refused(ctx, err); err != nil {
		return fmt.Errorf("provision stream %s: %w", name, err)
	}
	b.ratesMade.ok = true
	return nil
}

// TakeRate counts one start of limit for key in the current window of per
// across the fleet (a counter the server adds to atomically) and reports
// whether it is within rate; if not, next is when the next window begins.
func (b *Broker) TakeRate(ctx context.Context, limit, key string, rate int, per time.Duration) (ok bool, next time.Time, err error) {
	if err := b.rates(ctx); err != nil {
		return false, time.Time{}, err
	}
	now := time.Now()
	window := now.UnixNano() / int64(per)
	msg := &nats.Msg{Subject: b.names.RateSubject(limit, key, window), Header: nats.Header{}}
	msg.Header.Set("Nats-Incr", "1")
	ack, err := b.js.PublishMsg(ctx, msg)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rate %s %s: %w", limit, key, refusal(err, msg.Subject))
	}
	n, err := strconv.ParseInt(ack.Value, 10, 64)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rate %s %s: counter %q: %w", limit, key, ack.Value, err)
	}
	if n <= int64(rate) {
		return true, time.Time{}, nil
	}
	return false, time.Unix(0, (window+1)*int64(per)), nil
}
