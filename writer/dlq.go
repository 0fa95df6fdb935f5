package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// DeadTask is a dead letter: a task whose every attempt failed, as kept in
// the dead-letter stream with its original envelope.
type DeadTask struct {
	ID       string    `json:"id"`
	Func     string    `json:"func"`
	Queue    string    `json:"queue"`
	Kind     string    `json:"kind"`  // the last error's kind
	Error    string    `json:"error"` // the last error's message
	Attempts int       `json:"attempts"`
	Failed   time.Time `json:"failed"`
	Seq      uint64    `json:"seq"` // its sequence in the dead-letter stream
}

// ReplayOf is the meta key that links a replayed task to the dead one.
const ReplayOf = "replay_of"

// DLQ lists the dead letters, oldest first.
func (w *Writer) DLQ(ctx context.Context) ([]DeadTask, error) {
	var out []DeadTask
	err := w.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		out = append(out, deadTask(d))
		return nil
	})
	return out, err
}

func deadTask(d *broker.DeadLetter) DeadTask {
	return DeadTask{
		ID: d.ID, Func: d.Func, Queue: d.Queue, Kind: d.Kind, Error: d.Error,
		Attempts: d.Attempts, Failed: d.Failed, Seq: d.Seq,
	}
}

// Replay submits the dead task id again as a fresh task: the same call and
// options under a new id, with meta replay_of=<id>, and removes its dead
// letter. It returns strand.ErrNotFound if no dead letter has that id.
func (w *Writer) Replay(ctx context.Context, id string) (*handle, error) {
	var found *broker.DeadLetter
	errFound := errors.New("found")
	err := w.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		if d.ID == id {
			found = d
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("replay %s: %w in the dead letters", id, strand.ErrNotFound)
	}
	return w.replay(ctx, found)
}

// ReplayAll replays every dead letter, as Replay does, and returns the
// new tasks' handles. It stops at the first error.
func (w *Writer) ReplayAll(ctx context.Context) ([]*handle, error) {
	var hs []*handle
	err := w.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		h, err := w.replay(ctx, d)
		if err != nil {
			return err
		}
		hs = append(hs, h)
		return nil
	})
	return hs, err
}

// replay re-submits a dead letter's envelope under a new id and deletes it.
func (w *Writer) replay(ctx context.Context, d *broker.DeadLetter) (*handle, error) {
	old := d.ID
	f, err := d.Format()
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	env, err := codec.DecodeEnvelope(f, d.Data)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	if env.Queue == "" {
		env.Queue = d.Queue
	}
	if err := codec.ValidQueue(env.Queue); err != nil {
		env.Queue = w.cfg.Queue
	}
	meta := make(map[string]string, len(env.Meta)+1)
	for k, v := range env.Meta {
		meta[k] = v
	}
	meta[ReplayOf] = env.ID
	env.ID, env.Meta, env.Created = id.String(), meta, time.Now().UnixMilli()
	if err := w.submitEnvelope(ctx, env, f); err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	if err := w.b.DeleteDeadLetter(ctx, d.Seq); err != nil {
		return nil, fmt.Errorf("replay %s: submitted as %s, but its dead letter stays: %w", old, env.ID, err)
	}
	return &handle{w: w, id: env.ID, queue: env.Queue, fn: env.Func}, nil
}

// submitEnvelope queues an envelope made elsewhere (a replayed dead letter).
func (w *Writer) submitEnvelope(ctx context.Context, env *codec.Envelope, f codec.Format) error {
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return err
	}
	return w.b.Submit(ctx, &broker.Task{
		Queue: env.Queue, ID: env.ID, Func: env.Func, Trace: env.Trace, Format: f, Data: data, TTL: w.cfg.TaskTTL,
	})[0]
}

// PurgeDLQ removes every dead letter and says how many there were.
func (w *Writer) PurgeDLQ(ctx context.Context) (uint64, error) { return w.b.PurgeDLQ(ctx) }
