package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Events — the bucket's RePublish of each write, and writes to subjects
// followed directly — are core NATS messages: one can be lost, and a
// waiter for it would then wait forever. Three things lose them:
//
//   - a reconnect: what was sent while the connection was down;
//   - a stream leader that stops after a write was committed and before it
//     republished it (only the leader republishes, and the node that takes
//     over applies the write as a follower, or later as leader, without a
//     word);
//   - a read made to learn what an event would have said, answered by a
//     replica that has not applied the newest writes yet (direct gets may
//     be answered by any replica): the write is stored, its event gone, and
//     the read said "nothing yet".
//
// So whoever waits for an event also reads what it waits for whenever
// Resync says: at a reconnect, when the bucket's or the tasks stream
// elects a leader, and again a while after each (resyncAfter), when the
// replicas have caught up.
//
// The first two lose the answers of writes too (a PubAck is a core
// message): Answer gives up on a write's answer after one of them, not
// after the later signals, which are for reads only.
var resyncAfter = []time.Duration{time.Second, 3 * time.Second, 10 * time.Second}

// A signal is a channel closed, and replaced, each time something
// happens, with a count of the times.
type signal struct {
	ch    chan struct{}
	count uint64
	at    time.Time // of the last time
}

func newSignal() signal { return signal{ch: make(chan struct{})} }

func (s *signal) fire() {
	close(s.ch)
	s.ch = make(chan struct{})
	s.count++
	s.at = time.Now()
}

// Resync returns a channel that is closed when events may have been lost
// (see above), and a count that grows each time: compare counts taken at
// two moments to know whether one came in between. Someone waiting for an
// event reads the state it waits for again when the channel closes.
func (b *Broker) Resync() (<-chan struct{}, uint64) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return b.resync.ch, b.resync.count
}

// answerMark is how many times answers may have been lost so far: a
// Write keeps it from just before it was sent.
func (b *Broker) answerMark() uint64 {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return b.lost.count
}

// unsettle signals that answers and events may have been lost: now, and
// for events again at each of resyncAfter from now.
func (b *Broker) unsettle() {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if b.settled {
		return // the broker closed
	}
	b.lost.fire()
	b.resync.fire()
	for _, d := range resyncAfter {
		var t *time.Timer
		t = time.AfterFunc(d, func() {
			b.rmu.Lock()
			defer b.rmu.Unlock()
			delete(b.settling, t)
			if !b.settled {
				b.resync.fire()
			}
		})
		b.settling[t] = struct{}{}
	}
}

// watchLeaders signals unsettle when the bucket's stream or the tasks
// stream elects a leader: the server's advisories. The subscriptions are
// made off the caller's way (each is checked with a round trip); a user
// that may not subscribe to them (docs/operations.md, permissions) goes
// without, and still resyncs at reconnects.
func (b *Broker) watchLeaders() {
	b.watching.Go(func() {
		for _, stream := range []string{b.names.Stream(), b.names.TasksStream()} {
			sub, err := b.Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+stream, func(*nats.Msg) { b.unsettle() })
			if err != nil {
				continue
			}
			b.rmu.Lock()
			if b.settled {
				_ = sub.Unsubscribe()
			} else {
				b.leaders = append(b.leaders, sub)
			}
			b.rmu.Unlock()
		}
	})
}

// stopResync ends the leader watch and the pending signals (Close).
func (b *Broker) stopResync() {
	b.rmu.Lock()
	b.settled = true
	for t := range b.settling {
		t.Stop()
	}
	b.settling = nil
	leaders := b.leaders
	b.leaders = nil
	b.rmu.Unlock()
	b.watching.Wait()
	for _, sub := range leaders {
		_ = sub.Unsubscribe()
	}
}

// errFateUnknown is the answer Answer gives a write that had none
// answerGrace after a reconnect or a leader election that came after it
// was sent: Transient, so the write is sent again. Each writer makes sure
// a second copy is harmless: outcomes and cancellations are create-only
// and recognise their own bytes, a task its own bytes while it is queued.
var errFateUnknown = fmt.Errorf("%w: no answer, and the connection or a stream's leader changed since the write was sent", nats.ErrTimeout)

// answerGrace is how long a write's answer may still come after the
// reconnect or election before the write counts as lost. An answer is
// normally back within milliseconds; one merely slow must not be taken
// for lost: a task sent again after its first copy ran and left the queue
// would run twice.
const answerGrace = 250 * time.Millisecond

// Answer waits for w's answer: the ack once it is stored, or its error. A
// write whose answer the server lost (a stream leader that stopped after
// taking it, a connection that moved) would wait out the publish timeout;
// once answers may have been lost since the write was sent and answerGrace
// has passed since, Answer returns errFateUnknown instead, a Transient
// error for the caller to send the write again.
func (b *Broker) Answer(ctx context.Context, w *Write) (*jetstream.PubAck, error) {
	return b.answer(ctx, w, nil)
}

// answer is Answer that also ends with the error refused sends, if any.
func (b *Broker) answer(ctx context.Context, w *Write, refused <-chan error) (*jetstream.PubAck, error) {
	b.rmu.Lock()
	lost, now := b.lost.ch, b.lost.count
	b.rmu.Unlock()
	if now == w.mark {
		if ack, done, err := awaitAnswer(ctx, w, refused, lost); done {
			return ack, err
		}
	}
	b.rmu.Lock()
	late := time.Until(b.lost.at.Add(answerGrace))
	b.rmu.Unlock()
	t := time.NewTimer(max(late, 0))
	defer t.Stop()
	if ack, done, err := awaitAnswer(ctx, w, refused, t.C); done {
		return ack, err
	}
	select {
	case ack := <-w.Ok():
		return ack, nil
	case err := <-w.Err():
		return nil, err
	default:
		return nil, errFateUnknown
	}
}

// awaitAnswer waits for w's answer, a refusal or the end of ctx until
// stop: done is false when stop came first.
func awaitAnswer[T any](ctx context.Context, w *Write, refused <-chan error, stop <-chan T) (ack *jetstream.PubAck, done bool, err error) {
	select {
	case ack := <-w.Ok():
		return ack, true, nil
	case err := <-w.Err():
		return nil, true, err
	case err := <-refused:
		return nil, true, err
	case <-ctx.Done():
		return nil, true, ctx.Err()
	case <-stop:
		return nil, false, nil
	}
}
