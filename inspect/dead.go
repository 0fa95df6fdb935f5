package inspect

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

// DeadTask is a dead letter: a task whose every attempt failed, as the
// dead-letter stream keeps it.
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

// NewTask is the task a replay or a resubmission made.
type NewTask struct {
	ID    string // the new task's id
	Queue string // its queue
	Func  string // its function
	// Of is the id of the task it runs again, also kept in its meta under
	// ReplayOf or ResubmitOf.
	Of string
}

// ReplayOf is the meta key that links a replayed task to the dead one.
const ReplayOf = "replay_of"

// DeadLetters lists the dead letters, oldest first.
func (in *Inspector) DeadLetters(ctx context.Context) ([]DeadTask, error) {
	out := []DeadTask{}
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		out = append(out, DeadTask{
			ID: d.ID, Func: d.Func, Queue: d.Queue, Kind: d.Kind, Error: d.Error,
			Attempts: d.Attempts, Failed: d.Failed, Seq: d.Seq,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// Replay submits the dead task id again as a fresh task: the same call and
// options under a new id, with meta replay_of=<id>, and removes its dead
// letter. It returns an error wrapping strand.ErrNotFound if no dead letter
// has that id.
func (in *Inspector) Replay(ctx context.Context, id string) (*NewTask, error) {
	var found *broker.DeadLetter
	errFound := errors.New("found")
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		if d.ID == id {
			found = d
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, fmt.Errorf("replay %s: %w", id, err)
	}
	if found == nil {
		return nil, fmt.Errorf("replay %s: %w in the dead letters", id, strand.ErrNotFound)
	}
	return in.replay(ctx, found)
}

// ReplayAll replays every dead letter, as Replay does, and returns the new
// tasks. It stops at the first error, returning the tasks replayed so far.
func (in *Inspector) ReplayAll(ctx context.Context) ([]NewTask, error) {
	var out []NewTask
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		t, err := in.replay(ctx, d)
		if err != nil {
			return err
		}
		out = append(out, *t)
		return nil
	})
	return out, err
}

// replay re-submits a dead letter's envelope under a new id and deletes it.
func (in *Inspector) replay(ctx context.Context, d *broker.DeadLetter) (*NewTask, error) {
	old := d.ID
	f, err := d.Format()
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	env, err := codec.DecodeEnvelope(f, d.Data)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	if env.Queue == "" {
		env.Queue = d.Queue
	}
	if err := codec.ValidQueue(env.Queue); err != nil {
		env.Queue = in.cfg.Queue
	}
	t, err := in.again(ctx, env, f, ReplayOf, env.ID)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	if err := in.b.DeleteDeadLetter(ctx, d.Seq); err != nil {
		return t, fmt.Errorf("replay %s: submitted as %s, but its dead letter stays: %w", old, t.ID, err)
	}
	return t, nil
}

// again submits env anew: a new id, meta key = of, created now.
func (in *Inspector) again(ctx context.Context, env *codec.Envelope, f codec.Format, key, of string) (*NewTask, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	meta := make(map[string]string, len(env.Meta)+1)
	for k, v := range env.Meta {
		meta[k] = v
	}
	meta[key] = of
	env.ID, env.Meta, env.Created = id.String(), meta, time.Now().UnixMilli()
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return nil, err
	}
	err = in.b.Submit(ctx, &broker.Task{
		Queue: env.Queue, ID: env.ID, Func: env.Func, Trace: env.Trace, Format: f, Data: data, TTL: in.cfg.TaskTTL,
	})[0]
	if err != nil {
		return nil, err
	}
	return &NewTask{ID: env.ID, Queue: env.Queue, Func: env.Func, Of: of}, nil
}

// PurgeDead removes every dead letter and says how many there were.
func (in *Inspector) PurgeDead(ctx context.Context) (uint64, error) {
	n, err := in.b.PurgeDLQ(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
}
