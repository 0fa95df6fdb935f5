package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/flowdoc"
)

// The workflow routes: POST /v1/flows takes the JSON document of `strand
// flow run` (docs/protocol.md, "The workflow document"), GET /v1/flows/{id}
// answers the JSON of `strand flow status`, DELETE /v1/flows/{id} cancels.

// flowRef is the answer to a submission that does not wait.
type flowRef struct {
	ID     string `json:"id"`
	Queue  string `json:"queue"`
	Status string `json:"status"`
}

// defaultFlowQueue is the queue of a workflow document that names none.
const defaultFlowQueue = "default"

func (g *gateway) submitFlow(rw http.ResponseWriter, r *http.Request) {
	wait, err := g.waitParam(r)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
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
	d, err := flowdoc.Parse(body)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_json", err.Error())
		return
	}
	if d.Queue == "" {
		d.Queue = defaultFlowQueue // named here for the answer
	}
	d.Encoding = "json" // the document's values are JSON: they go as they are
	h, err := flow.Submit(r.Context(), g.w, d)
	if errors.Is(err, codec.ErrBadFlow) {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	rw.Header().Set("Location", "/v1/flows/"+h.ID())
	if wait <= 0 {
		writeJSON(rw, http.StatusCreated, flowRef{ID: h.ID(), Queue: d.Queue, Status: string(strand.StatusPending)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	code := http.StatusOK
	_, err = h.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		code, err = http.StatusAccepted, nil
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	st, err := flow.StatusOf(r.Context(), h)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, code, flowdoc.Status(st))
}

func (g *gateway) openFlow(rw http.ResponseWriter, r *http.Request) (strand.Handle, bool) {
	h, err := flow.Open(r.Context(), g.w, r.PathValue("id"))
	if err == nil {
		return h, true
	}
	if errors.Is(err, strand.ErrMalformed) {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return nil, false
	}
	g.fail(rw, r, err)
	return nil, false
}

func (g *gateway) flowStatus(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.openFlow(rw, r)
	if !ok {
		return
	}
	st, err := flow.StatusOf(r.Context(), h)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, flowdoc.Status(st))
}

func (g *gateway) cancelFlow(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.openFlow(rw, r)
	if !ok {
		return
	}
	if err := h.Cancel(r.Context()); err != nil {
		g.fail(rw, r, err)
		return
	}
	q, err := g.b.LocateFlow(r.Context(), h.ID())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, flowRef{ID: h.ID(), Queue: q, Status: string(strand.StatusCancelled)})
}
