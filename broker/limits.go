package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Lease is one of a limit's slots for one key, held by a running task:
// the flow record l.<limit>.<key>.<slot>, created with a TTL, so that the
// slot of a worker that dies comes back when its lease expires.
type Lease struct {
	b       *Broker
	subject string
	mu      sync.Mutex
	rev     uint64
	ttl     time.Duration
}

// LeaseKey is the flow record of one slot of a limit for key.
func (n Names) LeaseKey(limit, key string, slot int) string {
	return "l." + limit + "." + key + "." + strconv.Itoa(slot)
}

// AcquireLease takes one of max slots of limit for key, for holder, with a
// TTL: each slot is a create-only key, tried from a random one on. It
// returns nil (and no error) when every slot is held.
func (b *Broker) AcquireLease(ctx context.Context, limit, key string, max int, holder string, ttl time.Duration) (*Lease, error) {
	kv, err := b.Flow(ctx)
	if err != nil {
		return nil, err
	}
	first := rand.IntN(max)
	for i := range max {
		k := b.names.LeaseKey(limit, key, (first+i)%max)
		rev, err := kv.Create(ctx, k, []byte(holder), jetstream.KeyTTL(ttl))
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", k, refusal(err, k))
		}
		return &Lease{b: b, subject: b.names.FlowSubject(k), rev: rev, ttl: ttl}, nil
	}
	return nil, nil
}

// Refresh writes the lease again with a new TTL, expecting its last
// revision: a lease that expired meanwhile (and may be another's now) is
// not taken back.
func (l *Lease) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
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

// Release frees the slot: a purge marker expecting the lease's revision
// (one that expired and was taken since is left alone), itself expiring.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := &nats.Msg{Subject: l.subject, Header: nats.Header{}}
	msg.Header.Set(headerKVOperation, "PURGE")
	msg.Header.Set("Nats-Rollup", "sub")
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(l.rev, 10))
	msg.Header.Set(headerTTL, markerTTL.String())
	if _, err := l.b.js.PublishMsg(ctx, msg); err != nil && !wrongLastSeq(err) {
		return fmt.Errorf("release lease %s: %w", l.subject, err)
	}
	return nil
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
