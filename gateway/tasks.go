package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/opt"
)

// duration is a JSON duration: a Go duration string ("30s", "1m30s") or a
// number of milliseconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want a duration such as 30s, or milliseconds", s)
		}
		*d = duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil || math.Abs(ms) > maxDurationMS {
		return fmt.Errorf("duration %s: want a duration such as \"30s\", or milliseconds (at most %d days)", b, maxDurationMS/86_400_000)
	}
	*d = duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// maxDurationMS is the longest duration a body may give in milliseconds:
// ten years, far from time.Duration's limit (292 years).
const maxDurationMS = 10 * 365 * 86_400_000

// submitRequest is the body of POST /v1/tasks.
type submitRequest struct {
	Func        string            `json:"func"`
	Args        []json.RawMessage `json:"args"`
	Kwargs      json.RawMessage   `json:"kwargs"`
	Queue       string            `json:"queue"`
	ID          string            `json:"id"`
	Timeout     duration          `json:"timeout"`
	MaxAttempts int               `json:"max_attempts"`
	ResultTTL   duration          `json:"result_ttl"`
	Meta        map[string]string `json:"meta"`
	// RunAt (RFC 3339) or Delay delays the task: it is scheduled until then.
	RunAt string   `json:"run_at"`
	Delay duration `json:"delay"`

	at time.Time // now + Delay, taken once
	// Flow control (docs/protocol.md, "Flow control").
	Priority  string          `json:"priority"`
	Key       string          `json:"key"`
	UniqueFor json.RawMessage `json:"unique_for"` // a duration, or "finished"
	Debounce  duration        `json:"debounce"`
	Fair      bool            `json:"fair"`
}

// taskRef is the answer to a submission: the task's id, queue and status.
type taskRef struct {
	ID       string `json:"id"`
	Queue    string `json:"queue,omitempty"`
	Status   string `json:"status"`
	ReplayOf string `json:"replay_of,omitempty"`
	RunAt    string `json:"run_at,omitempty"`
	// Existing is set when a uniqueness key was held: the task is the one
	// that holds it, not a new one.
	Existing bool `json:"existing,omitempty"`
}

// outcomeBody is a task's outcome as JSON.
type outcomeBody struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    *errorBody      `json:"error,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Worker   string          `json:"worker,omitempty"`
	Finished string          `json:"finished,omitempty"`
	Items    int64           `json:"items,omitempty"`
}

func (g *gateway) submit(rw http.ResponseWriter, r *http.Request) {
	wait, err := g.waitParam(r)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var req submitRequest
	if !g.decodeBody(rw, r, &req) {
		return
	}
	if strings.TrimSpace(req.Func) == "" {
		writeError(rw, http.StatusBadRequest, "bad_request", "missing func")
		return
	}
	args, opts, err := req.options()
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if tp := r.Header.Get("traceparent"); tp != "" {
		// The HTTP caller's trace goes on to the task (W3C trace context).
		opts = append(opts, strand.Option(opt.Trace(tp)))
	}
	h, err := g.w.Submit(r.Context(), req.Func, args, opts...)
	existing := false
	if err != nil && len(req.UniqueFor) > 0 && errors.Is(err, strand.ErrDuplicate) && h != nil {
		existing, err = true, nil // the key is held: answer with the task that holds it
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	ref := taskRef{ID: h.ID(), Queue: queueOf(h), Status: string(strand.StatusPending), Existing: existing}
	if existing {
		if st, err := h.Status(r.Context()); err == nil {
			ref.Status = string(st)
		}
		if wait <= 0 {
			rw.Header().Set("Location", "/v1/tasks/"+h.ID())
			writeJSON(rw, http.StatusOK, ref)
			return
		}
	} else if at := req.runAt(); at.After(time.Now()) {
		// The server runs it at the second, rounded up.
		ref.Status, ref.RunAt = string(strand.StatusScheduled), rfc3339(at.Add(time.Second-time.Nanosecond).Truncate(time.Second))
	}
	rw.Header().Set("Location", "/v1/tasks/"+h.ID())
	if wait <= 0 {
		writeJSON(rw, http.StatusCreated, ref)
		return
	}
	g.waitOutcome(rw, r, h, wait, ref)
}

// options turns the request into the task's positional args and the
// writer's options.
func (req *submitRequest) options() ([]any, []strand.Option, error) {
	args := make([]any, 0, len(req.Args))
	for _, a := range req.Args {
		args = append(args, a)
	}
	out := make([]strand.Option, 0, 8)
	out = append(out, strand.Encoding("json"))
	if err := req.check(); err != nil {
		return nil, nil, err
	}
	if req.Queue != "" {
		out = append(out, strand.Queue(req.Queue))
	}
	if req.ID != "" {
		out = append(out, strand.ID(req.ID))
	}
	if len(req.Kwargs) > 0 && string(req.Kwargs) != "null" {
		if bytes.TrimSpace(req.Kwargs)[0] != '{' {
			return nil, nil, errors.New("kwargs: want a JSON object")
		}
		out = append(out, strand.Kwargs(req.Kwargs))
	}
	if req.Timeout != 0 {
		out = append(out, strand.Timeout(time.Duration(req.Timeout)))
	}
	if req.MaxAttempts != 0 {
		out = append(out, strand.MaxAttempts(req.MaxAttempts))
	}
	if req.ResultTTL != 0 {
		out = append(out, strand.ResultTTL(time.Duration(req.ResultTTL)))
	}
	if len(req.Meta) > 0 {
		out = append(out, strand.Meta(req.Meta))
	}
	if at := req.runAt(); !at.IsZero() {
		out = append(out, strand.At(at))
	}
	if req.Priority != "" {
		out = append(out, strand.Priority(req.Priority))
	}
	switch {
	case len(req.UniqueFor) > 0 && string(req.UniqueFor) != "null":
		window := time.Duration(0) // until finished
		if string(bytes.TrimSpace(req.UniqueFor)) != `"finished"` {
			var d duration
			if err := d.UnmarshalJSON(req.UniqueFor); err != nil {
				return nil, nil, fmt.Errorf("unique_for: %v, or \"finished\"", err)
			}
			window = time.Duration(d)
		}
		out = append(out, strand.Unique(req.Key, window))
	case req.Debounce != 0:
		out = append(out, strand.Debounce(req.Key, time.Duration(req.Debounce)))
	case req.Key != "":
		out = append(out, strand.Key(req.Key))
	}
	if req.Fair {
		out = append(out, strand.Fair())
	}
	return args, out, nil
}

// runAt is when the request asks the task to run: zero for now. check has
// refused a run_at that does not parse, and both fields at once.
func (req *submitRequest) runAt() time.Time {
	if req.RunAt != "" {
		t, _ := time.Parse(time.RFC3339, req.RunAt)
		return t
	}
	if req.Delay > 0 {
		if req.at.IsZero() {
			req.at = time.Now().Add(time.Duration(req.Delay))
		}
		return req.at
	}
	return time.Time{}
}

// check refuses what only the JSON form can get wrong: fields that
// exclude each other and a run_at that does not parse. Everything an
// option refuses (a bad queue, id, key or priority, a negative timeout, a
// window under 1s, a key missing) the writer refuses with an error
// wrapping strand.ErrBadOption that names the option, which is a 400.
func (req *submitRequest) check() error {
	switch {
	case req.RunAt != "" && req.Delay != 0:
		return errors.New("run_at and delay: give one of them")
	case req.Delay < 0:
		return errors.New("delay: negative")
	case len(req.UniqueFor) > 0 && req.Debounce != 0:
		return errors.New("unique_for and debounce exclude each other")
	}
	if req.RunAt != "" {
		if _, err := time.Parse(time.RFC3339, req.RunAt); err != nil {
			return fmt.Errorf("run_at %q: want an RFC 3339 time such as 2026-12-24T18:00:00Z", req.RunAt)
		}
	}
	return nil
}

// statusTimeout bounds the status read that ends a wait.
const statusTimeout = 5 * time.Second

// waitOutcome waits up to wait for h's outcome: 200 with it, or 202 with
// the task's status now.
func (g *gateway) waitOutcome(rw http.ResponseWriter, r *http.Request, h strand.Handle, wait time.Duration, ref taskRef) {
	longLived(rw, wait)
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	o, err := h.Wait(ctx)
	if err != nil {
		if ctx.Err() == nil {
			g.fail(rw, r, err)
			return
		}
		// The wait is over (or the gateway is shutting down): the status now.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), statusTimeout)
		defer cancel()
		st, err := h.Status(sctx)
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		ref.Status = string(st)
		writeJSON(rw, http.StatusAccepted, ref)
		return
	}
	body, err := outcomeBodyOf(o)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, body)
}

// outcomeJSON renders an outcome record, its result as JSON.
func outcomeJSON(id string, o *codec.Outcome, f codec.Format) (*outcomeBody, error) {
	body := &outcomeBody{ID: id, Status: string(o.Status), Attempt: o.Attempt, Worker: o.Worker, Items: o.Items}
	if o.Finished != 0 {
		body.Finished = time.UnixMilli(o.Finished).UTC().Format(time.RFC3339Nano)
	}
	if o.Error != nil {
		body.Error = &errorBody{Kind: o.Error.Kind, Message: o.Error.Message}
	}
	if o.Status == strand.StatusCompleted {
		res, err := codec.ToJSON(f, o.Result)
		if err != nil {
			return nil, fmt.Errorf("task %s: result: %w", id, err)
		}
		body.Result = res
	}
	return body, nil
}

// open returns a handle to the task named by the path, or answers 400.
func (g *gateway) open(rw http.ResponseWriter, r *http.Request) (strand.Handle, bool) {
	h, err := g.w.Open(r.PathValue("id"))
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return nil, false
	}
	return h, true
}

// infoBody is a task's info as JSON.
type infoBody struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Func     string          `json:"func,omitempty"`
	Queue    string          `json:"queue,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Worker   string          `json:"worker,omitempty"`
	Created  string          `json:"created,omitempty"`
	Started  string          `json:"started,omitempty"`
	Finished string          `json:"finished,omitempty"`
	Progress *codec.Progress `json:"progress,omitempty"`
	// NextAttempt is when a retrying task runs again.
	NextAttempt string            `json:"next_attempt,omitempty"`
	Error       *errorBody        `json:"error,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Items       int64             `json:"items,omitempty"`
	// RunAt is when a scheduled (delayed) task becomes due.
	RunAt string `json:"run_at,omitempty"`
	// Waiting says why a pending task has not started ("paused").
	Waiting string `json:"waiting,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func infoJSON(in *strand.Info) *infoBody {
	body := &infoBody{
		ID: in.ID, Status: string(in.Status), Func: in.Func, Queue: in.Queue, Attempt: in.Attempt, Worker: in.Worker,
		Created: rfc3339(in.Created), Started: rfc3339(in.Started), Finished: rfc3339(in.Finished),
		Progress: progressBody(in.Progress), Meta: in.Meta, Items: in.Items, RunAt: rfc3339(in.RunAt), Waiting: in.Waiting,
		NextAttempt: rfc3339(in.NextAttempt),
	}
	if in.Err != nil {
		e := codec.ErrorInfoOf(in.Err)
		body.Error = &errorBody{Kind: e.Kind, Message: e.Message}
	}
	return body
}

// infoOf is h.Info, read a second time when the first says unknown: Info
// reads the outcome before the task record and its queue's acknowledgement,
// so a task that ends between those reads looks as if it had expired.
// known reads h's info, answering 404 when no record describes the task.
func (g *gateway) known(ctx context.Context, rw http.ResponseWriter, r *http.Request, h strand.Handle) (*strand.Info, bool) {
	in, err := h.Info(ctx)
	if err != nil {
		g.fail(rw, r, err)
		return nil, false
	}
	if in.Status == strand.StatusUnknown {
		writeError(rw, http.StatusNotFound, "not_found", "no task "+h.ID()+" (never submitted, or expired)")
		return nil, false
	}
	return in, true
}

func (g *gateway) info(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.open(rw, r)
	if !ok {
		return
	}
	in, ok := g.known(r.Context(), rw, r, h)
	if !ok {
		return
	}
	writeJSON(rw, http.StatusOK, infoJSON(in))
}

func (g *gateway) result(rw http.ResponseWriter, r *http.Request) {
	wait, err := g.waitParam(r)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	h, ok := g.open(rw, r)
	if !ok {
		return
	}
	in, ok := g.known(r.Context(), rw, r, h)
	if !ok {
		return
	}
	if in.Status.Terminal() {
		// It has its outcome: Wait reads it at once.
		o, err := h.Wait(r.Context())
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		body, err := outcomeBodyOf(o)
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		writeJSON(rw, http.StatusOK, body)
		return
	}
	ref := taskRef{ID: h.ID(), Status: string(in.Status)}
	if wait <= 0 {
		writeJSON(rw, http.StatusAccepted, ref)
		return
	}
	g.waitOutcome(rw, r, h, wait, ref)
}

func (g *gateway) cancel(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.open(rw, r)
	if !ok {
		return
	}
	if err := h.Cancel(r.Context()); err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, taskRef{ID: h.ID(), Status: string(strand.StatusCancelled)})
}
