package gateway

import (
	"errors"
	"net/http"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/inspect"
)

// filterBody is a task filter in a JSON body (the query parameters of
// GET /v1/tasks).
type filterBody struct {
	Queue  string            `json:"queue"`
	Status string            `json:"status"`
	Func   string            `json:"func"`
	ID     string            `json:"id"` // a prefix
	Meta   map[string]string `json:"meta"`
	Error  string            `json:"error"`
}

// actionRequest is the body of POST /v1/tasks/actions.
type actionRequest struct {
	Action string `json:"action"`
	// Tasks, or IDs (whose queues are looked up), are the selection; else
	// Filter selects every matching task the action applies to.
	Tasks  []inspect.Target `json:"tasks"`
	IDs    []string         `json:"ids"`
	Filter *filterBody      `json:"filter"`
	// Max caps the tasks a filter selects (default and at most 10 000).
	Max int `json:"max"`
	// DryRun answers with the selection without acting: what a
	// confirmation shows.
	DryRun bool `json:"dry_run"`
}

// actionResult is what the action did to one task.
type actionResult struct {
	ID    string     `json:"id"`
	Queue string     `json:"queue,omitempty"`
	OK    bool       `json:"ok"`
	NewID string     `json:"new_id,omitempty"`
	Error *errorBody `json:"error,omitempty"`
}

// actionBody is the answer of POST /v1/tasks/actions.
type actionBody struct {
	Action  string         `json:"action"`
	DryRun  bool           `json:"dry_run,omitempty"`
	Matched int            `json:"matched"`
	Done    int            `json:"done"`
	Failed  int            `json:"failed"`
	More    bool           `json:"more"` // the filter matched more than max
	Results []actionResult `json:"results"`
}

// actionErrKind is the error kind an action's failure on one task has.
func actionErrKind(err error) string {
	switch {
	case errors.Is(err, strand.ErrNotFound):
		return "not_found"
	case errors.Is(err, strand.ErrFinished), errors.Is(err, inspect.ErrNotFinished), errors.Is(err, inspect.ErrNotRetryable):
		return "conflict"
	case errors.Is(err, strand.ErrBadOption), errors.Is(err, strand.ErrMalformed):
		return "bad_request"
	}
	return "internal"
}

// act answers POST /v1/tasks/actions: retry (resubmit) failed and dead
// tasks, cancel pending, running and retrying ones, or delete finished
// ones, chosen by id or by filter.
func (g *gateway) act(rw http.ResponseWriter, r *http.Request) {
	var req actionRequest
	if !g.decodeBody(rw, r, &req) {
		return
	}
	a := inspect.Action(req.Action)
	if err := a.Check(); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	targets := req.Tasks
	for _, id := range req.IDs {
		targets = append(targets, inspect.Target{ID: id})
	}
	for _, t := range targets {
		if err := codec.ValidID(t.ID); err != nil {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		if t.Queue != "" {
			if err := codec.ValidQueue(t.Queue); err != nil {
				writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
				return
			}
		}
	}
	if len(targets) > 0 && req.Filter != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", "give tasks/ids or a filter, not both")
		return
	}
	if req.Max < 0 || req.Max > inspect.MaxSelect {
		writeError(rw, http.StatusBadRequest, "bad_request", "max: want 0 to 10000")
		return
	}
	if len(targets) > inspect.MaxSelect {
		writeError(rw, http.StatusBadRequest, "bad_request", "more than 10000 tasks: act on them in parts")
		return
	}
	body := actionBody{Action: req.Action, DryRun: req.DryRun, Results: []actionResult{}}
	if req.Filter != nil {
		fb := req.Filter
		f := inspect.Filter{Queue: fb.Queue, Status: strand.Status(fb.Status), Func: fb.Func, IDPrefix: fb.ID, Meta: fb.Meta, Error: fb.Error}
		if err := f.Check(); err != nil {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		var err error
		targets, body.More, err = g.in.Select(r.Context(), a, f, req.Max)
		if errors.Is(err, strand.ErrBadOption) {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		if err != nil {
			g.fail(rw, r, err)
			return
		}
	} else if len(targets) == 0 {
		writeError(rw, http.StatusBadRequest, "bad_request", "no tasks: give tasks, ids or a filter")
		return
	}
	body.Matched = len(targets)
	if req.DryRun {
		for _, t := range targets {
			body.Results = append(body.Results, actionResult{ID: t.ID, Queue: t.Queue})
		}
		writeJSON(rw, http.StatusOK, body)
		return
	}
	longLived(rw, g.cfg.MaxWait)
	results, err := g.in.Act(r.Context(), a, targets)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	for _, res := range results {
		ar := actionResult{ID: res.ID, Queue: res.Queue, OK: res.Err == nil, NewID: res.NewID}
		if res.Err != nil {
			body.Failed++
			ar.Error = &errorBody{Kind: actionErrKind(res.Err), Message: res.Err.Error()}
		} else {
			body.Done++
		}
		body.Results = append(body.Results, ar)
	}
	writeJSON(rw, http.StatusOK, body)
}

// replayRequest is the body of POST /v1/dlq/replay.
type replayRequest struct {
	IDs []string `json:"ids"` // none: every dead letter
}

// replayMany answers POST /v1/dlq/replay: replay the dead letters named
// (or all of them) as new tasks.
func (g *gateway) replayMany(rw http.ResponseWriter, r *http.Request) {
	var req replayRequest
	if r.ContentLength != 0 && !g.decodeBody(rw, r, &req) {
		return
	}
	for _, id := range req.IDs {
		if err := codec.ValidID(id); err != nil {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}
	longLived(rw, g.cfg.MaxWait)
	body := actionBody{Action: "replay", Results: []actionResult{}}
	add := func(id string, t *inspect.NewTask, err error) {
		ar := actionResult{ID: id, OK: err == nil}
		if t != nil {
			ar.NewID, ar.Queue = t.ID, t.Queue
		}
		if err != nil {
			body.Failed++
			ar.Error = &errorBody{Kind: actionErrKind(err), Message: err.Error()}
		} else {
			body.Done++
		}
		body.Results = append(body.Results, ar)
	}
	if len(req.IDs) == 0 {
		dead, err := g.in.DeadLetters(r.Context())
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		for _, d := range dead {
			req.IDs = append(req.IDs, d.ID)
		}
	}
	for _, id := range req.IDs {
		t, err := g.in.Replay(r.Context(), id)
		add(id, t, err)
	}
	body.Matched = len(req.IDs)
	writeJSON(rw, http.StatusOK, body)
}
