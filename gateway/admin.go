package gateway

import (
	"net/http"

	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// queueBody is one queue: its consumer's counters.
type queueBody struct {
	Queue       string `json:"queue"`
	Consumer    string `json:"consumer"`
	Depth       uint64 `json:"depth"`       // records not yet delivered (NumPending)
	InFlight    int    `json:"in_flight"`   // delivered, not yet acknowledged (NumAckPending)
	Redelivered int    `json:"redelivered"` // delivered more than once, not yet acknowledged
	Waiting     int    `json:"waiting"`     // pull requests of workers waiting for tasks
}

// queues lists the queues: the durable consumers <prefix>-<queue> on the
// bucket's stream whose filter is the queue's (broker.Queues).
func (g *gateway) queues(rw http.ResponseWriter, r *http.Request) {
	qs, err := g.b.Queues(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	out := make([]queueBody, 0, len(qs))
	for _, q := range qs {
		out = append(out, queueBody{
			Queue: q.Queue, Consumer: q.Consumer, Depth: q.Depth, InFlight: q.InFlight,
			Redelivered: q.Redelivered, Waiting: q.Waiting,
		})
	}
	writeJSON(rw, http.StatusOK, map[string]any{"queues": out})
}

func (g *gateway) workers(rw http.ResponseWriter, r *http.Request) {
	ws, err := g.w.Workers(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	if ws == nil {
		ws = []codec.Worker{}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"workers": ws})
}

func (g *gateway) dlq(rw http.ResponseWriter, r *http.Request) {
	dead, err := g.w.DLQ(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	if dead == nil {
		dead = []writer.DeadTask{}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"tasks": dead})
}

func (g *gateway) replay(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := codec.ValidID(id); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	h, err := g.w.Replay(r.Context(), id)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	rw.Header().Set("Location", "/v1/tasks/"+h.ID())
	writeJSON(rw, http.StatusCreated, taskRef{ID: h.ID(), Queue: h.Queue(), Status: "pending", ReplayOf: id})
}
