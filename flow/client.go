package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/writerlink"
	"github.com/strand-run/strand/writer"
)

// Submit creates the workflow d through w, all of it or nothing: one
// message holds the whole definition. The workflow and the steps that name
// no queue go to d.Queue, else w's queue; its records are kept for w's
// result TTL once it ends, and it may take up to w's task TTL; its values
// are encoded as d.Encoding says, else as w's tasks (writer.Config). It is
// refused with an error wrapping strand.ErrBadOption if d has a cycle, a
// step that runs after an unknown one, a duplicate step name, a bad option
// (Step.With), or another defect; with strand.ErrDuplicate if its id is
// taken; with strand.ErrClosed once w is closed. From then on the workers
// carry it on: the caller may exit at once.
//
// The handle is a strand.Handle, as a task's is: Wait and
// Result give the workflow's end, Progress counts its steps that ended,
// Cancel cancels it; StatusOf reads each step.
func Submit(ctx context.Context, w *writer.Writer, d *Definition) (strand.Handle, error) {
	ws, err := settings(w)
	if err != nil {
		return nil, err
	}
	f := ws.Format
	if d.Encoding != "" {
		var ok bool
		if f, ok = codec.Named(d.Encoding); !ok {
			return nil, fmt.Errorf("%w: %w: unknown encoding %q", codec.ErrBadFlow, strand.ErrBadOption, d.Encoding)
		}
	}
	fl, err := d.encode(f)
	if err != nil {
		return nil, err
	}
	if fl.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		fl.ID = id.String()
	}
	if fl.Queue == "" {
		fl.Queue = ws.Queue
	}
	fl.Created = time.Now().UnixMilli()
	fl.TaskTTLMS, fl.ResultTTLMS = ws.TaskTTL.Milliseconds(), ws.ResultTTL.Milliseconds()
	if err := fl.Validate(); err != nil {
		return nil, err
	}
	if err := ws.B.SubmitFlow(ctx, fl, f); err != nil {
		return nil, err
	}
	return &handle{ws: ws, id: fl.ID, queue: fl.Queue}, nil
}

// Open returns a handle to workflow id, submitted by any process, that
// reads and waits through w.
func Open(ctx context.Context, w *writer.Writer, id string) (strand.Handle, error) {
	ws, err := settings(w)
	if err != nil {
		return nil, err
	}
	if err := codec.ValidID(id); err != nil {
		return nil, err
	}
	q, err := ws.B.LocateFlow(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", id, err)
	}
	if q == "" {
		return nil, fmt.Errorf("flow %s: %w", id, strand.ErrNotFound)
	}
	return &handle{ws: ws, id: id, queue: q}, nil
}

// settings are w's, or why there are none.
func settings(w *writer.Writer) (writerlink.Settings, error) {
	ws, ok := writerlink.Of(w)
	if !ok {
		return ws, fmt.Errorf("flow: %w: no writer", strand.ErrBadOption)
	}
	select {
	case <-ws.Done:
		return ws, fmt.Errorf("flow: %w", strand.ErrClosed)
	default:
	}
	return ws, nil
}
