package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// queueBody is one queue: its consumer's counters (or, for a queue without
// a consumer, its tasks), its dead letters and its live workers.
type queueBody struct {
	Queue       string `json:"queue"`
	Consumer    string `json:"consumer"`    // "" for a queue that no worker has consumed yet
	Depth       uint64 `json:"depth"`       // records not yet delivered (NumPending)
	InFlight    int    `json:"in_flight"`   // delivered, not yet acknowledged (NumAckPending)
	Redelivered int    `json:"redelivered"` // delivered more than once, not yet acknowledged
	Waiting     int    `json:"waiting"`     // pull requests of workers waiting for tasks
	Dead        uint64 `json:"dead"`        // tasks in the dead-letter stream
	Workers     int    `json:"workers"`     // live workers that consume the queue
	Paused      bool   `json:"paused"`      // paused across the fleet (writer.Pause): it takes tasks and runs none
	// Warning says what is wrong with the queue: no worker consumes it.
	Warning string `json:"warning,omitempty"`
}

// noWorker is the warning of a queue that no live worker consumes.
const noWorker = "no worker consumes this queue: its tasks wait"

// queueList lists every queue with tasks, queued or dead, with or without
// a consumer and workers (broker.Queues, broker.DLQCounts), and the live
// workers.
func (g *gateway) queueList(ctx context.Context) ([]queueBody, []codec.Worker, error) {
	qs, err := g.b.Queues(ctx)
	if err != nil {
		return nil, nil, err
	}
	dead, err := g.b.DLQCounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	ws, err := g.w.Workers(ctx)
	if err != nil {
		return nil, nil, err
	}
	if ws == nil {
		ws = []codec.Worker{}
	}
	workers := map[string]int{}
	for _, w := range ws {
		for _, q := range w.Queues {
			workers[q]++
		}
	}
	out := make([]queueBody, 0, len(qs))
	listed := map[string]bool{}
	for _, q := range qs {
		listed[q.Queue] = true
		out = append(out, queueBody{
			Queue: q.Queue, Consumer: q.Consumer, Depth: q.Depth, InFlight: q.InFlight,
			Redelivered: q.Redelivered, Waiting: q.Waiting, Dead: dead[q.Queue], Workers: workers[q.Queue],
		})
	}
	for q, n := range dead {
		if !listed[q] {
			out = append(out, queueBody{Queue: q, Dead: n, Workers: workers[q]})
		}
	}
	for i := range out {
		if p, err := g.b.Paused(ctx, out[i].Queue); err == nil && p != nil {
			out[i].Paused = true
		}
		if out[i].Workers == 0 && (out[i].Depth > 0 || out[i].InFlight > 0 || out[i].Consumer == "") {
			out[i].Warning = noWorker
		}
	}
	slices.SortFunc(out, func(a, b queueBody) int { return strings.Compare(a.Queue, b.Queue) })
	return out, ws, nil
}

// queues lists every queue with tasks (queueList).
func (g *gateway) queues(rw http.ResponseWriter, r *http.Request) {
	out, _, err := g.queueList(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
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
