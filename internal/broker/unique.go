package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClaimUnique claims a uniqueness key of queue for task id, for ttl: the
// claim is a create of the flow record u.<queue>.<key>, which the server
// grants once, so of two producers racing with one key one claims it and
// the other learns who holds it. It returns "" once claimed, or the id of
// the task holding the key.
func (b *Broker) ClaimUnique(ctx context.Context, queue, key, id string, ttl time.Duration) (holder string, err error) {
	kv, err := b.Flow(ctx)
	if err != nil {
		return "", err
	}
	k := b.names.UniqueKey(queue, key)
	for try := 0; try < 5; try++ {
		_, err = kv.Create(ctx, k, []byte(id), jetstream.KeyTTL(ttl))
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("unique %s: %w", key, refusal(err, k))
		}
		e, gerr := kv.Get(ctx, k)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			continue // expired or released between the two: claim again
		case gerr != nil:
			return "", fmt.Errorf("unique %s: %w", key, gerr)
		}
		return string(e.Value()), nil
	}
	return "", fmt.Errorf("unique %s: %w", key, err)
}

// ReleaseUnique frees a uniqueness key that task id holds (a key another
// task claimed since is left alone): a delete that expects the revision
// holding id.
func (b *Broker) ReleaseUnique(ctx context.Context, queue, key, id string) error {
	kv, err := b.Flow(ctx)
	if err != nil {
		return err
	}
	k := b.names.UniqueKey(queue, key)
	e, err := kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release unique %s: %w", key, err)
	}
	if string(e.Value()) != id {
		return nil
	}
	err = kv.Purge(ctx, k, jetstream.LastRevision(e.Revision()))
	if err != nil && !wrongLastSeq(err) {
		return fmt.Errorf("release unique %s: %w", key, err)
	}
	return nil
}

// Debounce makes task id the holder of the debounce key of queue for ttl
// and returns the id it replaced ("" if none held it): a write that
// expects the revision it read, so that racing producers are put in one
// order by the server, the last one holding the key.
func (b *Broker) Debounce(ctx context.Context, queue, key, id string, ttl time.Duration) (replaced string, err error) {
	if _, err := b.Flow(ctx); err != nil {
		return "", err
	}
	k := b.names.DebounceKey(queue, key)
	subject := b.names.FlowSubject(k)
	stream := "KV_" + b.names.FlowBucket()
	for try := 0; try < 50; try++ {
		last, err := b.getLast(ctx, stream, subject)
		if err != nil {
			return "", fmt.Errorf("debounce %s: %w", key, err)
		}
		var seq uint64
		holder := ""
		if last != nil {
			seq = last.Seq
			if !IsMarker(last.Header, last.Data) {
				holder = string(last.Data)
			}
		}
		msg := &nats.Msg{Subject: subject, Data: []byte(id), Header: nats.Header{}}
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
		msg.Header.Set(headerTTL, ttl.String())
		_, err = b.js.PublishMsg(ctx, msg)
		switch {
		case err == nil:
			return holder, nil
		case wrongLastSeq(err):
			continue // another producer wrote in between: read again
		case Transient(err) && ctx.Err() == nil:
			time.Sleep(50 * time.Millisecond)
			continue
		default:
			return "", fmt.Errorf("debounce %s: %w", key, refusal(err, k))
		}
	}
	return "", fmt.Errorf("debounce %s: too many producers at once", key)
}
