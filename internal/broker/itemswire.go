package broker

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/codec"
)

// This file is the wire of streamed items (docs/protocol.md, "Streamed
// items"): a worker writes a task's items in order on its items subject,
// then an end marker; a reader reads them from the start.

// itemMsg is a message of task id's items subject, written by attempt.
func (b *Broker) itemMsg(queue, id string, attempt int, data []byte, f codec.Format) *nats.Msg {
	msg := &nats.Msg{Subject: b.names.ItemsSubject(queue, id), Data: data, Header: nats.Header{}}
	msg.Header.Set(codec.HeaderContentType, f.ContentType())
	msg.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	return msg
}

// WriteItem sends item n (from 0) of task id, produced by attempt, without
// waiting: the answer comes on the returned Write. Items of one task are
// stored in the order they are sent.
func (b *Broker) WriteItem(queue, id string, n int64, attempt int, data []byte, f codec.Format) (*Write, error) {
	msg := b.itemMsg(queue, id, attempt, data, f)
	msg.Header.Set(HeaderItem, strconv.FormatInt(n, 10))
	return b.publishAsync(msg)
}

// EndItems stores the end marker of task id's items and waits for it: the
// count of items before it, and the task's error if it has one (its
// message cut to one line of MaxErrorHeader bytes).
func (b *Broker) EndItems(ctx context.Context, queue, id string, count int64, attempt int, f codec.Format, info *codec.ErrorInfo) error {
	msg := b.itemMsg(queue, id, attempt, nil, f)
	msg.Header.Set(HeaderEnd, strconv.FormatInt(count, 10))
	if info != nil {
		msg.Header.Set(HeaderErrorKind, info.Kind)
		msg.Header.Set(HeaderError, headerValue(info.Message, MaxErrorHeader))
	}
	_, err := b.js.PublishMsg(ctx, msg)
	return err
}

// PurgeItems drops every item (and end marker) of task id: a retried task's
// earlier attempts, so that a late reader sees only the attempt that ends it.
func (b *Broker) PurgeItems(ctx context.Context, queue, id string) error {
	st, err := b.js.Stream(ctx, b.names.ItemsStream())
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(b.names.ItemsSubject(queue, id)))
}

// An Item is one message of a task's items subject as a reader reads it:
// an item, or the end marker.
type Item struct {
	Seq    uint64       // its sequence in the items stream (0 if unknown)
	N      int64        // an item's number, from 0
	Data   []byte       // an item's value, as the worker encoded it
	Format codec.Format // its encoding: its Content-Type, else sniffed

	End   bool             // the end marker: no item follows
	Count int64            // the end marker's count of items before it
	Error *codec.ErrorInfo // the end marker's task error; nil if none
}

func itemOf(seq uint64, h nats.Header, data []byte) *Item {
	it := &Item{Seq: seq}
	if end := h.Get(HeaderEnd); end != "" {
		it.End = true
		it.Count, _ = strconv.ParseInt(end, 10, 64)
		if kind := h.Get(HeaderErrorKind); kind != "" {
			it.Error = &codec.ErrorInfo{Kind: kind, Message: h.Get(HeaderError)}
		}
		return it
	}
	it.Data, it.Format = data, codec.Sniff(data)
	it.N, _ = strconv.ParseInt(h.Get(HeaderItem), 10, 64)
	if f, err := codec.ParseContentType(h.Get(codec.HeaderContentType)); err == nil {
		it.Format = f
	}
	return it
}

// An ItemReader reads one task's items subject from its start, in order.
type ItemReader struct {
	msgs jetstream.MessagesContext
}

// ReadItems starts reading task id's items from the first one, including
// those stored before the call. Stop the reader when done.
func (b *Broker) ReadItems(ctx context.Context, queue, id string) (*ItemReader, error) {
	cons, err := b.ItemsConsumer(ctx, queue, id)
	if err != nil {
		return nil, err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return nil, err
	}
	return &ItemReader{msgs: msgs}, nil
}

// Next waits for the next message, until ctx ends.
func (r *ItemReader) Next(ctx context.Context) (*Item, error) {
	m, err := r.msgs.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, err
	}
	var seq uint64
	if meta, err := m.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	return itemOf(seq, m.Headers(), m.Data()), nil
}

// Stop ends the reading.
func (r *ItemReader) Stop() { r.msgs.Stop() }

// LastItem returns the items-stream sequence of the last message of task
// id's items (0 if it has none) and whether it is the end marker.
func (b *Broker) LastItem(ctx context.Context, queue, id string) (seq uint64, end bool, err error) {
	st, err := b.js.Stream(ctx, b.names.ItemsStream())
	if err != nil {
		return 0, false, err
	}
	m, err := st.GetLastMsgForSubject(ctx, b.names.ItemsSubject(queue, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return m.Sequence, m.Header.Get(HeaderEnd) != "", nil
}
