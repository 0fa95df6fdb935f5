package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// newTask is the task a replay or a resubmission made.
type newTask struct {
	ID    string // the new task's id
	Queue string // its queue
	Func  string // its function
	Of    string // the id of the task it runs again, also in its meta under replayOf or resubmitOf
}

// replayOf is the meta key that links a replayed task to the dead one.
const replayOf = "replay_of"

// DeadLetters lists the dead letters, oldest first: tasks whose every
// attempt failed, as the dead-letter stream keeps them. Each has Status
// dead, Attempt its attempts, Finished when it died, Kind and Error its
// last error, and Seq its sequence in the stream.
func (in *Inspector) DeadLetters(ctx context.Context) ([]Task, error) {
	out := []Task{}
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		out = append(out, Task{
			ID: d.ID, Func: d.Func, Queue: d.Queue, Status: strand.StatusDead, Kind: d.Kind, Error: d.Error,
			Attempt: d.Attempts, Finished: d.Failed, At: d.Failed, Seq: d.Seq,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// replayIDs is Act's "replay": the dead letters of ids, in one read.
func (in *Inspector) replayIDs(ctx context.Context, ids []string) ([]ActResult, error) {
	out := make([]ActResult, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	want := make(map[string][]int, len(ids))
	for i, id := range ids {
		out[i].ID = id
		want[id] = append(want[id], i)
	}
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		at, ok := want[d.ID]
		if !ok {
			return nil
		}
		delete(want, d.ID) // a second dead letter of the id stays
		t, err := in.replay(ctx, d)
		for _, i := range at {
			out[i].Err = err
			if t != nil {
				out[i].NewID, out[i].Queue = t.ID, t.Queue
			}
		}
		if len(want) == 0 {
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return out, fmt.Errorf("replay: %w", err)
	}
	for id, at := range want {
		for _, i := range at {
			out[i].Err = fmt.Errorf("replay %s: %w in the dead letters", id, strand.ErrNotFound)
		}
	}
	return out, nil
}

// errDone stops a read of the dead letters that found what it wanted.
var errDone = errors.New("done")

// replayOne replays the dead letter of id (an error wrapping
// strand.ErrNotFound if there is none).
func (in *Inspector) replayOne(ctx context.Context, id string) (*newTask, error) {
	var found *broker.DeadLetter
	err := in.b.DeadLetters(ctx, func(d *broker.DeadLetter) error {
		if d.ID == id {
			found = d
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, fmt.Errorf("replay %s: %w", id, err)
	}
	if found == nil {
		return nil, fmt.Errorf("replay %s: %w in the dead letters", id, strand.ErrNotFound)
	}
	return in.replay(ctx, found)
}

// replay re-submits a dead letter's envelope under a new id and deletes it.
func (in *Inspector) replay(ctx context.Context, d *broker.DeadLetter) (*newTask, error) {
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
	t, err := in.again(ctx, env, f, replayOf, env.ID)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", old, err)
	}
	if err := in.b.DeleteDeadLetter(ctx, d.Seq); err != nil {
		return t, fmt.Errorf("replay %s: submitted as %s, but its dead letter stays: %w", old, t.ID, err)
	}
	return t, nil
}

// again submits env anew: a new id, meta key = of, created now.
func (in *Inspector) again(ctx context.Context, env *codec.Envelope, f codec.Format, key, of string) (*newTask, error) {
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
	return &newTask{ID: env.ID, Queue: env.Queue, Func: env.Func, Of: of}, nil
}

// PurgeDead removes every dead letter and says how many there were.
func (in *Inspector) PurgeDead(ctx context.Context) (uint64, error) {
	n, err := in.b.PurgeDLQ(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
}
