package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
func Submit(ctx context.Context, w *writer.Writer, d *Definition) (*Handle, error) {
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
	return &Handle{ws: ws, id: fl.ID, queue: fl.Queue}, nil
}

// Open returns a handle to workflow id, submitted by any process, that
// reads and waits through w.
func Open(ctx context.Context, w *writer.Writer, id string) (*Handle, error) {
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
	return &Handle{ws: ws, id: id, queue: q}, nil
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

// Handle is a hold on one workflow.
type Handle struct {
	ws    writerlink.Settings
	id    string
	queue string
}

// ID is the workflow's id.
func (h *Handle) ID() string { return h.id }

// statusWaiting is a step's status while it waits for the steps it runs
// after: it has no task yet.
const statusWaiting strand.Status = "waiting"

// Status is a workflow's state, and each step's.
type Status struct {
	ID     string        `json:"id"`
	Queue  string        `json:"queue"`  // where its start task went
	Status strand.Status `json:"status"` // pending, running, completed, failed, cancelled
	// Step is the step that failed (or was cancelled) and ended the workflow.
	Step     string       `json:"failed_step,omitempty"`
	Error    *ErrorInfo   `json:"error,omitempty"`
	Finished *time.Time   `json:"finished,omitempty"`
	Steps    []StepStatus `json:"steps"`
}

// ErrorInfo is a step's or a workflow's error.
type ErrorInfo struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// StepStatus is one step's state. Its Status is "waiting" while it waits
// for the steps it runs after (it has no task yet), then its task's.
type StepStatus struct {
	Name    string          `json:"name"`
	TaskID  string          `json:"task_id"` // its task, which `strand status` and writer.Open know
	Func    string          `json:"func"`
	Queue   string          `json:"queue"`
	After   []string        `json:"after,omitempty"`
	Status  strand.Status   `json:"status"`
	Attempt int             `json:"attempt,omitempty"`
	Worker  string          `json:"worker,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *ErrorInfo      `json:"error,omitempty"`
}

func errorInfo(e *codec.ErrorInfo) *ErrorInfo {
	if e == nil {
		return nil
	}
	return &ErrorInfo{Kind: e.Kind, Message: e.Message}
}

// Status reads the workflow and each of its steps now.
func (h *Handle) Status(ctx context.Context) (*Status, error) {
	l, err := h.ws.B.LookFlow(ctx, h.queue, h.id)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", h.id, err)
	}
	if l.Def == nil && l.End == nil {
		return nil, fmt.Errorf("flow %s: %w", h.id, strand.ErrNotFound)
	}
	st := &Status{ID: h.id, Queue: h.queue, Status: strand.StatusPending, Steps: []StepStatus{}}
	if l.Def == nil {
		l.Def = &codec.Flow{} // it never started: no steps are known
	}
	started := false
	for i, s := range l.Def.Steps {
		ss := StepStatus{Name: s.Name, TaskID: codec.StepID(h.id, s.Name), Func: s.Func,
			Queue: l.Def.StepQueue(&l.Def.Steps[i]), After: s.After, Status: statusWaiting}
		sl := l.Steps[i]
		switch {
		case sl.Outcome != nil:
			o := sl.Outcome
			ss.Status, ss.Attempt, ss.Worker, ss.Error = o.Status, o.Attempt, o.Worker, errorInfo(o.Error)
			if o.Status == strand.StatusCompleted && !o.Result.IsNil() {
				if js, err := codec.ToJSON(o.Format, o.Result); err == nil {
					ss.Result = js
				}
			}
		case sl.Task != nil:
			ss.Status = sl.Status()
			if sl.State != nil {
				ss.Attempt, ss.Worker, ss.Error = sl.State.Attempt, sl.State.Worker, errorInfo(sl.State.LastError)
			}
		}
		if ss.Status != statusWaiting {
			started = true
		}
		st.Steps = append(st.Steps, ss)
	}
	if started {
		st.Status = strand.StatusRunning
	}
	if e := l.End; e != nil {
		st.Status, st.Step, st.Error = e.Status, e.Step, errorInfo(e.Error)
		if e.Finished != 0 {
			t := time.UnixMilli(e.Finished).UTC()
			st.Finished = &t
		}
	}
	return st, nil
}

// Wait blocks until the workflow ends, or ctx does, and returns its final
// status. It is pushed, not polled: it waits for the end record's event.
// Closing the writer ends the wait with an error matching strand.ErrClosed.
func (h *Handle) Wait(ctx context.Context) (*Status, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.ws.Done:
			cancel()
		case <-wctx.Done():
		}
	}()
	if _, err := h.ws.B.WaitFlow(wctx, h.queue, h.id); err != nil {
		select {
		case <-h.ws.Done:
			if ctx.Err() == nil {
				return nil, fmt.Errorf("flow %s: %w", h.id, strand.ErrClosed)
			}
		default:
		}
		return nil, err
	}
	return h.Status(ctx)
}

// Result waits for the workflow to end and decodes the result of its final
// step (the step no other runs after) into out, a pointer, or nil to only
// wait. A workflow with several final steps decodes them all into a
// *map[string]json.RawMessage by step name; into anything else it is an
// error. A workflow that failed or was cancelled returns an error wrapping
// a *strand.TaskError: the failed step's (errors.Is matches its kind's
// sentinel, strand.ErrTimeout, …), or of kind strand.ErrCancelled; the
// error's text names the step. Wait gives its final Status instead.
func (h *Handle) Result(ctx context.Context, out any) error {
	st, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	if st.Status != strand.StatusCompleted {
		return notCompleted(st)
	}
	dep := map[string]bool{}
	for _, s := range st.Steps {
		for _, a := range s.After {
			dep[a] = true
		}
	}
	res := map[string]json.RawMessage{}
	for _, s := range st.Steps {
		if !dep[s.Name] {
			res[s.Name] = s.Result
		}
	}
	if m, ok := out.(*map[string]json.RawMessage); ok && m != nil {
		*m = res
		return nil
	}
	if out == nil {
		return nil
	}
	if len(res) != 1 {
		names := slices.Sorted(maps.Keys(res))
		return fmt.Errorf("flow %s has %d final steps (%v): decode them into a *map[string]json.RawMessage", h.id, len(res), names)
	}
	for _, r := range res {
		if len(r) > 0 {
			return json.Unmarshal(r, out)
		}
	}
	return nil
}

// notCompleted is the error of a workflow that ended st.Status.
func notCompleted(st *Status) error {
	te := &strand.TaskError{Kind: strand.ErrFailed, Message: fmt.Sprintf("workflow %s", st.Status)}
	if st.Status == strand.StatusCancelled {
		te.Kind = strand.ErrCancelled
	}
	if st.Error != nil {
		te.Kind, te.Message = strand.Kind(st.Error.Kind), st.Error.Message
	}
	if st.Step != "" {
		return fmt.Errorf("flow %s %s at step %s: %w", st.ID, st.Status, st.Step, te)
	}
	return fmt.Errorf("flow %s %s: %w", st.ID, st.Status, te)
}

// Cancel ends the workflow cancelled: running steps are stopped and the
// steps that have not started never will. A workflow that has ended is
// refused with strand.ErrFinished.
func (h *Handle) Cancel(ctx context.Context) error {
	return h.ws.B.CancelFlow(ctx, h.queue, h.id)
}
