package gateway

import (
	"net/http"
	"time"

	"github.com/strand-run/strand/internal/codec"
)

// pauseBody is a queue's pause state.
type pauseBody struct {
	Queue  string     `json:"queue"`
	Paused bool       `json:"paused"`
	Since  *time.Time `json:"since,omitempty"`
}

// pause pauses a queue across the fleet (inspect.Inspector.Pause).
func (g *gateway) pause(rw http.ResponseWriter, r *http.Request) { g.setPause(rw, r, true) }

// resume resumes a paused queue (inspect.Inspector.Resume).
func (g *gateway) resume(rw http.ResponseWriter, r *http.Request) { g.setPause(rw, r, false) }

func (g *gateway) setPause(rw http.ResponseWriter, r *http.Request, pause bool) {
	q := r.PathValue("queue")
	if err := codec.ValidQueue(q); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var err error
	if pause {
		err = g.in.Pause(r.Context(), q)
	} else {
		err = g.in.Resume(r.Context(), q)
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	g.pauseState(rw, r)
}

// pauseState answers whether a queue is paused.
func (g *gateway) pauseState(rw http.ResponseWriter, r *http.Request) {
	q := r.PathValue("queue")
	if err := codec.ValidQueue(q); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	qs, err := g.in.Queues(r.Context(), q)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	body := pauseBody{Queue: q, Paused: qs[0].Paused}
	if qs[0].Paused {
		body.Since = &qs[0].PausedSince
	}
	writeJSON(rw, http.StatusOK, body)
}
