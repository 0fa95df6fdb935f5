package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file reads many stored messages at once: direct get batches (a
// request answered with up to n messages and an end-of-batch marker), the
// reads that listing and browsing are made of.

// batchMax is the most messages one direct get batch asks for. Few large
// batches beat many small ones: at each batch the server counts the
// messages left that fit the filter, and in a stream with one message per
// subject (the bucket, the tasks) that walks every subject that fits: 50
// ms per batch with a million kept outcomes.
const batchMax = 16_384

// batchRequest is the body of a direct get batch.
type batchRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// batch reads up to n (≤ batchMax) messages of stream whose subject matches
// filter, from sequence seq on, in stream order, markers included. It also
// returns how many matching messages follow the last one it read (the
// server's count at the end of the batch).
func (b *Broker) batch(ctx context.Context, stream, filter string, seq uint64, n int) (recs []*Record, left uint64, err error) {
	if n <= 0 || n > batchMax {
		n = batchMax
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	err = retryTransient(ctx, func() error {
		recs, left, err = b.batchOnce(ctx, stream, filter, seq, n)
		return err
	})
	return recs, left, err
}

func (b *Broker) batchOnce(ctx context.Context, stream, filter string, seq uint64, n int) ([]*Record, uint64, error) {
	subject := "$JS.API.DIRECT.GET." + stream
	req, err := json.Marshal(batchRequest{Seq: seq, NextFor: filter, Batch: n, MaxBytes: 32 << 20})
	if err != nil {
		return nil, 0, err
	}
	inbox := b.conn.NewInbox()
	ch := make(chan *nats.Msg, n+1) // the batch and its end: never full
	sub, err := b.conn.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", filter, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ctx, stop := b.refusable(ctx, subject)
	defer stop()
	if err := b.conn.PublishRequest(subject, inbox, req); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", filter, err)
	}
	var recs []*Record
	for {
		select {
		case <-ctx.Done():
			return nil, 0, refused(ctx, fmt.Errorf("read %s: %w", filter, ctx.Err()))
		case m := <-ch:
			switch st := m.Header.Get(headerStatus); st {
			case "":
				rec := &Record{Subject: m.Header.Get(headerSubject), Data: m.Data, Header: m.Header}
				rec.Seq, _ = strconv.ParseUint(m.Header.Get(headerSequence), 10, 64)
				rec.Time, _ = time.Parse(time.RFC3339Nano, m.Header.Get(headerTimeStamp))
				recs = append(recs, rec)
			case "204": // end of batch
				left, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
				return recs, left, nil
			case "404":
				return recs, 0, nil
			case "408", "503":
				return nil, 0, fmt.Errorf("read %s: %w", filter, jetstream.ErrNoStreamResponse)
			default:
				return nil, 0, fmt.Errorf("read %s: status %s %s", filter, st, m.Header.Get("Description"))
			}
		}
	}
}

// count returns how many messages of stream match filter, from one direct
// get batch of one message.
func (b *Broker) count(ctx context.Context, stream, filter string) (uint64, error) {
	recs, left, err := b.batch(ctx, stream, filter, 0, 1)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return left + uint64(len(recs)), nil
}
