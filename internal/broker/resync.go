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
// Resync says: at a reconnect, when the bucket's stream elects a leader,
// and again a while after each (resyncAfter), when the replicas have
// caught up.
var resyncAfter = []time.Duration{time.Second, 3 * time.Second, 10 * time.Second}

// Resync returns a channel that is closed when events may have been lost
// (see above), and a count that grows each time: compare counts taken at
// two moments to know whether one came in between. Someone waiting for an
// event reads the state it waits for again when the channel closes.
func (b *Broker) Resync() (<-chan struct{}, uint64) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return b.resync, b.resyncs
}

// unsettle signals Resync now and at each of resyncAfter from now.
func (b *Broker) unsettle() {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if b.settled {
		return // the broker closed
	}
	b.signalLocked()
	for _, d := range resyncAfter {
		var t *time.Timer
		t = time.AfterFunc(d, func() {
			b.rmu.Lock()
			defer b.rmu.Unlock()
			delete(b.settling, t)
			if !b.settled {
				b.signalLocked()
			}
		})
		b.settling[t] = struct{}{}
	}
}

func (b *Broker) signalLocked() {
	close(b.resync)
	b.resync = make(chan struct{})
	b.resyncs++
	b.resyncAt = time.Now()
}

// watchLeaders signals Resync when the bucket's stream elects a leader:
// the server's advisory for it. A user that may not subscribe to it
// (docs/operations.md, permissions) still resyncs at reconnects.
func (b *Broker) watchLeaders() {
	sub, err := b.conn.Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+b.names.Stream(), func(*nats.Msg) { b.unsettle() })
	if err == nil {
		b.rmu.Lock()
		b.leaders = sub
		b.rmu.Unlock()
	}
}

// stopResync ends the leader watch and the pending signals (Close).
func (b *Broker) stopResync() {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	b.settled = true
	for t := range b.settling {
		t.Stop()
	}
	b.settling = nil
	if b.leaders != nil {
		_ = b.leaders.Unsubscribe()
		b.leaders = nil
	}
}

// errFateUnknown is the answer Answer gives a write that had none
// answerGrace after Resync said answers may have been lost: Transient, so
// the write is sent again (create-only writes and task publishes
// recognise a copy that was stored after all).
var errFateUnknown = fmt.Errorf("%w: no answer, and the connection or the stream's leader changed since the write was sent", nats.ErrTimeout)

// answerGrace is how long a write's answer may still come after a Resync
// before the write counts as lost. An answer is normally back within
// milliseconds; one merely slow must not be taken for lost: a task sent
// again after its first copy ran and left the queue would run twice.
const answerGrace = 250 * time.Millisecond

// Answer waits for w's answer: nil once it is stored, or its error. A
// write whose answer the server lost (a stream leader that stopped after
// taking it, a connection that moved) would wait out the publish timeout;
// once Resync has signalled since the write was sent (sent is Resync's
// count taken before it was) and answerGrace has passed since, Answer
// returns errFateUnknown instead, a Transient error for Settle to send
// the write again.
func (b *Broker) Answer(ctx context.Context, w Write, sent uint64) (*jetstream.PubAck, error) {
	if resync, now := b.Resync(); now == sent {
		select {
		case ack := <-w.Ok():
			return ack, nil
		case err := <-w.Err():
			return nil, err
		case <-resync:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.lateAnswer(ctx, w)
}

// lateAnswer waits for w's answer until answerGrace after the last Resync,
// then gives up on it with errFateUnknown.
func (b *Broker) lateAnswer(ctx context.Context, w Write) (*jetstream.PubAck, error) {
	b.rmu.Lock()
	late := time.Until(b.resyncAt.Add(answerGrace))
	b.rmu.Unlock()
	t := time.NewTimer(max(late, 0))
	defer t.Stop()
	select {
	case ack := <-w.Ok():
		return ack, nil
	case err := <-w.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
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
