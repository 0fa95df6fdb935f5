package gateway

import (
	"errors"
	"net/http"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/admin"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
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

// targetBody is one task to act on; Queue may be "" (it is looked up).
type targetBody struct {
	Queue string `json:"queue,omitempty"`
	ID    string `json:"id"`
}

// actionRequest is the body of POST /v1/tasks/actions.
type actionRequest struct {
	Action string `json:"action"`
	// Tasks, or IDs (whose queues are looked up), are the selection; else
	// Filter selects every matching task the action applies to.
	Tasks  []targetBody `json:"tasks"`
	IDs    []string     `json:"ids"`
	Filter *filterBody  `json:"filter"`
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
	case errors.Is(err, strand.ErrFinished), errors.Is(err, inspect.ErrWrongState):
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
	a := req.Action
	if err := admin.CheckAction(a); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var targets []inspect.Task
	for _, t := range req.Tasks {
		targets = append(targets, inspect.Task{Queue: t.Queue, ID: t.ID})
	}
	for _, id := range req.IDs {
		targets = append(targets, inspect.Task{ID: id})
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
	if req.Max < 0 || req.Max > admin.MaxSelect {
		writeError(rw, http.StatusBadRequest, "bad_request", "max: want 0 to 10000")
		return
	}
	if len(targets) > admin.MaxSelect {
		writeError(rw, http.StatusBadRequest, "bad_request", "more than 10000 tasks: act on them in parts")
		return
	}
	body := actionBody{Action: req.Action, DryRun: req.DryRun, Results: []actionResult{}}
	if req.Filter != nil {
		fb := req.Filter
		f := broker.TaskFilter{Queue: fb.Queue, Status: strand.Status(fb.Status), Func: fb.Func, IDPrefix: fb.ID, Meta: fb.Meta, Error: fb.Error}
		if err := f.Check(); err != nil {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		sel, more, err := admin.Select(r.Context(), g.b, a, f, req.Max)
		if errors.Is(err, strand.ErrBadOption) {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		body.More = more
		for _, t := range sel {
			targets = append(targets, inspect.Task{Queue: t.Queue, ID: t.ID})
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
	results, err := g.in.Act(r.Context(), a, targets...)
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
	add := func(res inspect.ActResult) {
		err := res.Err
		ar := actionResult{ID: res.ID, OK: err == nil, NewID: res.NewID, Queue: res.Queue}
		if err != nil {
			body.Failed++
			ar.Error = &errorBody{Kind: actionErrKind(err), Message: err.Error()}
		} else {
			body.Done++
		}
		body.Results = append(body.Results, ar)
	}
	var tasks []inspect.Task
	for _, id := range req.IDs {
		tasks = append(tasks, inspect.Task{ID: id})
	}
	if len(req.IDs) == 0 {
		dead, err := g.in.DeadLetters(r.Context())
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		tasks = dead
	}
	results, err := g.in.Act(r.Context(), "replay", tasks...)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	for _, res := range results {
		add(res)
	}
	body.Matched = len(req.IDs)
	writeJSON(rw, http.StatusOK, body)
}
