package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/codec"
)

// This file is the wire of dead letters: a worker writes a task whose every
// attempt failed to the dead-letter stream; writers list, replay and purge
// them.

// MaxErrorHeader bounds the error message copied into a header (a dead
// letter's, an end marker's).
const MaxErrorHeader = 1024

// headerValue makes s a valid header value: one line, at most n bytes.
func headerValue(s string, n int) string {
	s = strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return ' '
		}
		return c
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// A DeadLetter is a task whose every attempt failed, as the dead-letter
// stream keeps it: its envelope as it was queued, with what it was and why
// it died.
type DeadLetter struct {
	ID, Queue, Func string
	Kind            string    // the last error's kind
	Error           string    // the last error's message
	Attempts        int       // how many attempts it had
	Failed          time.Time // when it died (ms precision)
	Data            []byte    // the envelope, as it was queued
	ContentType     string    // the envelope's Content-Type; "" if it had none
	Seq             uint64    // its sequence in the dead-letter stream, once stored
}

// Format is the envelope's encoding: its Content-Type, else sniffed from
// its bytes.
func (d *DeadLetter) Format() (codec.Format, error) {
	if d.ContentType == "" {
		return codec.Sniff(d.Data), nil
	}
	return codec.ParseContentType(d.ContentType)
}

// WriteDeadLetter sends d to the dead-letter stream without waiting: the
// answer comes on the returned Write. The task id makes the message id, so
// that a second copy (after a crash) is dropped by the server.
func (b *Broker) WriteDeadLetter(d *DeadLetter) (*Write, error) {
	msg := &nats.Msg{Subject: b.names.DLQSubject(d.Queue), Data: d.Data, Header: nats.Header{}}
	if d.ContentType != "" {
		msg.Header.Set(codec.HeaderContentType, d.ContentType)
	}
	msg.Header.Set(HeaderTaskID, d.ID)
	msg.Header.Set(HeaderQueue, d.Queue)
	msg.Header.Set(codec.HeaderFunc, d.Func)
	msg.Header.Set(HeaderErrorKind, d.Kind)
	msg.Header.Set(HeaderError, headerValue(d.Error, MaxErrorHeader))
	msg.Header.Set(HeaderAttempts, strconv.Itoa(d.Attempts))
	msg.Header.Set(HeaderFailed, strconv.FormatInt(d.Failed.UnixMilli(), 10))
	return b.publishAsync(msg, jetstream.WithMsgID("dlq."+d.ID))
}

func deadLetterOf(m *jetstream.RawStreamMsg) *DeadLetter {
	h := m.Header
	d := &DeadLetter{
		ID: h.Get(HeaderTaskID), Queue: h.Get(HeaderQueue), Func: h.Get(codec.HeaderFunc),
		Kind: h.Get(HeaderErrorKind), Error: h.Get(HeaderError),
		Failed: m.Time, Data: m.Data, ContentType: h.Get(codec.HeaderContentType), Seq: m.Sequence,
	}
	d.Attempts, _ = strconv.Atoi(h.Get(HeaderAttempts))
	if ms, err := strconv.ParseInt(h.Get(HeaderFailed), 10, 64); err == nil {
		d.Failed = time.UnixMilli(ms)
	}
	return d
}

// DeadLetters calls fn with every dead letter, oldest first, until fn
// returns an error, which DeadLetters returns.
func (b *Broker) DeadLetters(ctx context.Context, fn func(*DeadLetter) error) error {
	st, err := b.DLQ(ctx)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	for seq := uint64(1); ; seq++ {
		// The next message at or after seq: deleted ones are skipped.
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.names.DLQSubjects()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		if err := fn(deadLetterOf(m)); err != nil {
			return err
		}
		seq = m.Sequence
	}
}

// DeleteDeadLetter removes the dead letter at seq; one that is gone already
// is no error.
func (b *Broker) DeleteDeadLetter(ctx context.Context, seq uint64) error {
	st, err := b.DLQ(ctx)
	if err == nil {
		err = st.DeleteMsg(ctx, seq)
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}

// PurgeDLQ removes every dead letter and says how many there were.
func (b *Broker) PurgeDLQ(ctx context.Context) (uint64, error) {
	st, err := b.DLQ(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	if err := st.Purge(ctx); err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return info.State.Msgs, nil
}
