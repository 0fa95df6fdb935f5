package broker

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/codec"
)

// SetIDFreeHook runs f between a submit's id checks and its publish (nil: none).
func SetIDFreeHook(f func(*Task)) { testHookIDFree = f }

// CreateOver is createOver, for a test of a write sent twice.
func (b *Broker) CreateOver(ctx context.Context, key string, data []byte) (uint64, bool, error) {
	msg := b.recordMsg(key, data, codec.Msgpack)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	return b.createOver(ctx, msg)
}

// WatchingLeaders waits until the leader-election subscriptions are made.
func (b *Broker) WatchingLeaders() { b.watching.Wait() }

// PublishAsync is publishAsync, for a test of Answer.
func (b *Broker) PublishAsync(msg *nats.Msg) (*Write, error) { return b.publishAsync(msg) }
