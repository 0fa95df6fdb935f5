package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/writer"
)

// scheduleRequest is the body of PUT /v1/schedules/{name}.
type scheduleRequest struct {
	Func        string            `json:"func"`
	Args        []json.RawMessage `json:"args"`
	Kwargs      json.RawMessage   `json:"kwargs"`
	Queue       string            `json:"queue"`
	Cron        string            `json:"cron"`
	Every       duration          `json:"every"`
	TZ          string            `json:"tz"`
	Timeout     duration          `json:"timeout"`
	MaxAttempts int               `json:"max_attempts"`
	ResultTTL   duration          `json:"result_ttl"`
	Meta        map[string]string `json:"meta"`
}

// scheduleBody is a schedule as JSON (as `strand schedule list --json`).
type scheduleBody struct {
	Name     string            `json:"name"`
	Spec     string            `json:"spec"`
	TZ       string            `json:"tz,omitempty"`
	Queue    string            `json:"queue"`
	Func     string            `json:"func"`
	Args     []json.RawMessage `json:"args,omitempty"`
	Kwargs   json.RawMessage   `json:"kwargs,omitempty"`
	Paused   bool              `json:"paused"`
	Created  string            `json:"created,omitempty"`
	NextRun  string            `json:"next_run,omitempty"`
	LastRun  string            `json:"last_run,omitempty"`
	LastTask string            `json:"last_task,omitempty"`
}

func scheduleJSON(s writer.ScheduleInfo) scheduleBody {
	b := scheduleBody{
		Name: s.Name, Spec: s.Spec, TZ: s.TZ, Queue: s.Queue, Func: s.Func, Paused: s.Paused,
		Created: rfc3339(s.Created), NextRun: rfc3339(s.NextRun), LastRun: rfc3339(s.LastRun), LastTask: s.LastTask,
	}
	for _, a := range s.Args {
		if j, err := codec.ValueJSON(a); err == nil {
			b.Args = append(b.Args, j)
		}
	}
	if s.Kwargs != nil {
		if j, err := codec.ValueJSON(s.Kwargs); err == nil {
			b.Kwargs = j
		}
	}
	return b
}

func (g *gateway) schedules(rw http.ResponseWriter, r *http.Request) {
	ss, err := g.w.Schedules(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	out := make([]scheduleBody, 0, len(ss))
	for _, s := range ss {
		out = append(out, scheduleJSON(s))
	}
	writeJSON(rw, http.StatusOK, map[string]any{"schedules": out})
}

func (g *gateway) schedule(rw http.ResponseWriter, r *http.Request) {
	ss, err := g.w.Schedules(r.Context(), r.PathValue("name"))
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, scheduleJSON(ss[0]))
}

func (g *gateway) putSchedule(rw http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, g.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(rw, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", mbe.Limit))
			return
		}
		writeError(rw, http.StatusBadRequest, "bad_request", "read body: "+err.Error())
		return
	}
	var req scheduleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_json", "body: "+err.Error())
		return
	}
	if strings.TrimSpace(req.Func) == "" {
		writeError(rw, http.StatusBadRequest, "bad_request", "missing func")
		return
	}
	var spec string
	switch {
	case (req.Cron == "") == (req.Every == 0):
		writeError(rw, http.StatusBadRequest, "bad_request", "give one of cron and every")
		return
	case req.Cron != "":
		spec = req.Cron
	default:
		spec = "@every " + time.Duration(req.Every).String()
	}
	sub := submitRequest{Func: req.Func, Args: req.Args, Kwargs: req.Kwargs, Queue: req.Queue,
		Timeout: req.Timeout, MaxAttempts: req.MaxAttempts, ResultTTL: req.ResultTTL, Meta: req.Meta}
	args, opts, err := sub.options()
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if req.TZ != "" {
		spec = "CRON_TZ=" + req.TZ + " " + spec
	}
	if err := g.w.PutSchedule(r.Context(), name, spec, req.Func, args, opts...); err != nil {
		g.fail(rw, r, err)
		return
	}
	g.schedule(rw, r)
}

func (g *gateway) deleteSchedule(rw http.ResponseWriter, r *http.Request) {
	if err := g.w.DeleteSchedule(r.Context(), r.PathValue("name")); err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"name": r.PathValue("name"), "deleted": true})
}

func (g *gateway) pauseSchedule(rw http.ResponseWriter, r *http.Request) {
	if err := g.w.PauseSchedule(r.Context(), r.PathValue("name")); err != nil {
		g.fail(rw, r, err)
		return
	}
	g.schedule(rw, r)
}

func (g *gateway) resumeSchedule(rw http.ResponseWriter, r *http.Request) {
	if err := g.w.ResumeSchedule(r.Context(), r.PathValue("name")); err != nil {
		g.fail(rw, r, err)
		return
	}
	g.schedule(rw, r)
}
