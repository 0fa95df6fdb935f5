package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/writerlink"
)

// handle is a workflow's strand.Handle: the workflow answers as one task
// whose result is its final step's, whose progress is its steps that ended,
// and which yields no items.
type handle struct {
	ws    writerlink.Settings
	id    string
	queue string
}

var _ strand.Handle = (*handle)(nil)

// statusWaiting is a step's status while it waits for the steps it runs
// after: it has no task yet.
const statusWaiting strand.Status = "waiting"

// Status is a workflow's state, and each step's (StatusOf).
type Status struct {
	ID     string
	Queue  string        // where its start task went
	Status strand.Status // pending, running, completed, failed, cancelled
	// Step is the step that failed (or was cancelled) and ended the workflow.
	Step string
	// Err is that step's error, a *strand.TaskError (its kind and message).
	Err      error
	Finished *time.Time // when it ended; nil until then
	Steps    []StepStatus
}

// StepStatus is one step's state. Its Status is "waiting" while it waits
// for the steps it runs after (it has no task yet), then its task's.
type StepStatus struct {
	Name    string
	TaskID  string // its task, which `strand status` and writer.Open know
	Func    string
	Queue   string
	After   []string
	Status  strand.Status
	Attempt int
	Worker  string
	Result  json.RawMessage // its result as JSON, once it completed
	Err     error           // its error, a *strand.TaskError
}

// StatusOf reads the workflow of h (a handle of Submit or Open) and each of
// its steps now. A handle of anything else is refused with an error
// wrapping strand.ErrBadOption.
func StatusOf(ctx context.Context, h strand.Handle) (*Status, error) {
	fh, ok := h.(*handle)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a workflow's handle", strand.ErrBadOption, h)
	}
	st, _, err := fh.look(ctx)
	return st, err
}

func taskError(e *codec.ErrorInfo) error {
	if e == nil {
		return nil
	}
	return &strand.TaskError{Kind: strand.Kind(e.Kind), Message: e.Message}
}

// look reads the workflow and each of its steps now.
func (h *handle) look(ctx context.Context) (*Status, *broker.FlowLookup, error) {
	l, err := h.ws.B.LookFlow(ctx, h.queue, h.id)
	if err != nil {
		return nil, nil, fmt.Errorf("flow %s: %w", h.id, err)
	}
	if l.Def == nil && l.End == nil {
		return nil, nil, fmt.Errorf("flow %s: %w", h.id, strand.ErrNotFound)
	}
	st := &Status{ID: h.id, Queue: h.queue, Status: strand.StatusPending, Steps: []StepStatus{}}
	def := l.Def
	if def == nil {
		def = &codec.Flow{} // it never started: no steps are known
	}
	started := false
	for i, s := range def.Steps {
		ss := StepStatus{Name: s.Name, TaskID: codec.StepID(h.id, s.Name), Func: s.Func,
			Queue: def.StepQueue(&def.Steps[i]), After: s.After, Status: statusWaiting}
		sl := l.Steps[i]
		switch {
		case sl.Outcome != nil:
			o := sl.Outcome
			ss.Status, ss.Attempt, ss.Worker, ss.Err = o.Status, o.Attempt, o.Worker, taskError(o.Error)
			if o.Status == strand.StatusCompleted && !o.Result.IsNil() {
				if js, err := codec.ToJSON(o.Format, o.Result); err == nil {
					ss.Result = js
				}
			}
		case sl.Task != nil:
			ss.Status = sl.Status()
			if sl.State != nil {
				ss.Attempt, ss.Worker, ss.Err = sl.State.Attempt, sl.State.Worker, taskError(sl.State.LastError)
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
		st.Status, st.Step, st.Err = e.Status, e.Step, taskError(e.Error)
		if e.Finished != 0 {
			t := time.UnixMilli(e.Finished).UTC()
			st.Finished = &t
		}
	}
	return st, l, nil
}

// ID is the workflow's id.
func (h *handle) ID() string { return h.id }

// Status is the workflow's status now: pending, running, then completed,
// failed or cancelled; StatusUnknown when nothing describes it.
func (h *handle) Status(ctx context.Context) (strand.Status, error) {
	st, _, err := h.look(ctx)
	if errors.Is(err, strand.ErrNotFound) {
		return strand.StatusUnknown, nil
	}
	if err != nil {
		return "", err
	}
	return st.Status, nil
}

// Info is what is known of the workflow now: its status, when it was
// created and ended, its meta, its error, and its steps that ended as
// Progress.
func (h *handle) Info(ctx context.Context) (*strand.Info, error) {
	st, l, err := h.look(ctx)
	if err != nil {
		return nil, err
	}
	info := &strand.Info{ID: h.id, Queue: h.queue, Func: codec.FlowStartFunc, Status: st.Status, Err: st.Err,
		Progress: progressOf(st)}
	if l.Def != nil {
		info.Meta = l.Def.Meta
		if l.Def.Created != 0 {
			info.Created = time.UnixMilli(l.Def.Created)
		}
	}
	if st.Finished != nil {
		info.Finished = *st.Finished
	}
	return info, nil
}

// progressOf counts st's steps that ended; nil while no step is known.
func progressOf(st *Status) *strand.Report {
	if len(st.Steps) == 0 {
		return nil
	}
	r := &strand.Report{Total: int64(len(st.Steps))}
	for _, s := range st.Steps {
		if s.Status.Terminal() {
			r.Done++
		}
	}
	r.Note = fmt.Sprintf("%d of %d steps ended", r.Done, r.Total)
	return r
}

// Progress is how many of the workflow's steps have ended (Done of Total);
// nil until its definition is stored (its start task has run).
func (h *handle) Progress(ctx context.Context) (*strand.Report, error) {
	st, _, err := h.look(ctx)
	if err != nil {
		return nil, err
	}
	return progressOf(st), nil
}

// closedErr is the error of a wait that the writer's Close ended, or nil.
func (h *handle) closedErr(ctx context.Context) error {
	select {
	case <-h.ws.Done:
		if ctx.Err() == nil {
			return fmt.Errorf("flow %s: %w", h.id, strand.ErrClosed)
		}
	default:
	}
	return nil
}

// Wait waits for the workflow to end and returns its outcome: its status,
// its end, its final step's result (several final steps: an object by step
// name), or its error, a *strand.TaskError of the failed step's kind (or
// of kind strand.ErrCancelled) whose message names the step. It is pushed,
// not polled. Closing the writer ends the wait with an error matching
// strand.ErrClosed.
func (h *handle) Wait(ctx context.Context) (*strand.Outcome, error) {
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
		if cerr := h.closedErr(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	st, _, err := h.look(ctx)
	if err != nil {
		return nil, err
	}
	return outcomeOf(st), nil
}

// outcomeOf is the outcome of the workflow that ended as st says.
func outcomeOf(st *Status) *strand.Outcome {
	o := &strand.Outcome{ID: st.ID, Status: st.Status}
	if st.Finished != nil {
		o.Ended = *st.Finished
	}
	if st.Status != strand.StatusCompleted {
		o.Err = notCompleted(st)
		return o
	}
	dep := map[string]bool{}
	for _, s := range st.Steps {
		for _, a := range s.After {
			dep[a] = true
		}
	}
	res := result{id: st.ID, steps: map[string]json.RawMessage{}}
	for _, s := range st.Steps {
		if !dep[s.Name] {
			res.steps[s.Name] = s.Result
		}
	}
	o.Result = res
	return o
}

// notCompleted is the error of a workflow that ended st.Status: a
// *strand.TaskError of the failed step's kind, its message naming the step.
func notCompleted(st *Status) error {
	te := &strand.TaskError{Kind: strand.ErrFailed, Message: fmt.Sprintf("workflow %s", st.Status)}
	if st.Status == strand.StatusCancelled {
		te.Kind = strand.ErrCancelled
	}
	var cause *strand.TaskError
	if errors.As(st.Err, &cause) {
		te.Kind, te.Message = cause.Kind, cause.Message
	}
	if st.Step != "" {
		te.Message = fmt.Sprintf("flow %s %s at step %s: %s", st.ID, st.Status, st.Step, te.Message)
	} else {
		te.Message = fmt.Sprintf("flow %s %s: %s", st.ID, st.Status, te.Message)
	}
	return te
}

// result is a completed workflow's result: its final steps' results, as
// JSON, by step name.
type result struct {
	id    string
	steps map[string]json.RawMessage
}

// Decode decodes the final step's result into out, a pointer; a workflow
// with several final steps decodes as an object by step name (into a map
// or a struct). Into a *map[string]json.RawMessage it is always that
// object, whatever the number of final steps.
func (r result) Decode(out any) error {
	if out == nil {
		return nil
	}
	if m, ok := out.(*map[string]json.RawMessage); ok && m != nil {
		*m = maps.Clone(r.steps)
		return nil
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	if len(js) == 0 {
		return nil
	}
	if err := json.Unmarshal(js, out); err != nil {
		if len(r.steps) > 1 {
			names := slices.Sorted(maps.Keys(r.steps))
			return fmt.Errorf("flow %s has %d final steps (%v): decode them into a map or a struct by step name: %w", r.id, len(names), names, err)
		}
		return fmt.Errorf("decode the result of flow %s into %T: %w", r.id, out, err)
	}
	return nil
}

// JSON is the result as JSON text: the final step's, or an object by step
// name for several (what strand's gateway asserts on a strand.Value).
func (r result) JSON() (json.RawMessage, error) {
	if len(r.steps) == 1 {
		for _, js := range r.steps {
			return js, nil
		}
	}
	return json.Marshal(r.steps)
}

// Result waits for the workflow to end and decodes its result into out (a
// pointer, or nil to only wait), as Wait's outcome does; a workflow that
// did not complete returns its error.
func (h *handle) Result(ctx context.Context, out any) error {
	o, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	return o.Decode(out)
}

// Cancel ends the workflow cancelled: running steps are stopped and the
// steps that have not started never will. A workflow that has ended is
// refused with strand.ErrFinished.
func (h *handle) Cancel(ctx context.Context) error {
	return h.ws.B.CancelFlow(ctx, h.queue, h.id)
}

// WatchProgress calls fn with the workflow's progress (its steps that
// ended, of all) at first and each time a step ends, until the workflow
// ends, and returns its outcome. It follows the events of the workflow's
// records and of its steps' (one subscription each), not a poll.
func (h *handle) WatchProgress(ctx context.Context, fn func(strand.Report)) (*strand.Outcome, error) {
	changed := make(chan struct{}, 1)
	notify := func(*nats.Msg) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	nc, names := h.ws.B.Conn(), h.ws.B.Names()
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	subscribe := func(queue, id string) error {
		s, err := nc.Subscribe(names.Event(names.Key("*", queue, id)), notify)
		if err != nil {
			return fmt.Errorf("flow %s: %w", h.id, err)
		}
		subs = append(subs, s)
		return nil
	}
	if err := subscribe(h.queue, h.id); err != nil {
		return nil, err
	}
	steps := false // subscribed to the steps' events
	last := int64(-1)
	for {
		if err := nc.FlushWithContext(ctx); err != nil {
			if cerr := h.closedErr(ctx); cerr != nil {
				return nil, cerr
			}
			return nil, fmt.Errorf("flow %s: %w", h.id, err)
		}
		st, l, err := h.look(ctx)
		if err != nil {
			return nil, err
		}
		if !steps && l.Def != nil {
			for i, s := range l.Def.Steps {
				if err := subscribe(l.Def.StepQueue(&l.Def.Steps[i]), codec.StepID(h.id, s.Name)); err != nil {
					return nil, err
				}
			}
			steps = true
			continue // read again, now that no step's end can be missed
		}
		if r := progressOf(st); r != nil && r.Done != last {
			last = r.Done
			fn(*r)
		}
		if l.End != nil {
			return outcomeOf(st), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.ws.Done:
			return nil, fmt.Errorf("flow %s: %w", h.id, strand.ErrClosed)
		}
	}
}

// Items yields nothing: a workflow's steps stream their items as tasks
// (open a step's task by its StepStatus.TaskID). It ends when the
// workflow does, with its error if it did not complete.
func (h *handle) Items(ctx context.Context) iter.Seq2[strand.Value, error] {
	return func(yield func(strand.Value, error) bool) {
		o, err := h.Wait(ctx)
		if err == nil {
			err = o.Err
		}
		if err != nil {
			yield(nil, err)
		}
	}
}
