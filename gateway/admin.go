package gateway

import (
	"context"
	"net/http"

	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/adminjson"

	"github.com/strand-run/strand/internal/codec"
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
	Paused      bool   `json:"paused"`      // paused across the fleet (inspect.Inspector.Pause): it takes tasks and runs none
	// Warning says what is wrong with the queue: no worker consumes it.
	Warning string `json:"warning,omitempty"`
}

// noWorker is the warning of a queue that no live worker consumes.
const noWorker = "no worker consumes this queue: its tasks wait"

// workerList lists the live workers (inspect.Inspector.Workers).
func (g *gateway) workerList(ctx context.Context) ([]adminjson.Worker, error) {
	ws, err := g.in.Workers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminjson.Worker, 0, len(ws))
	for _, w := range ws {
		out = append(out, adminjson.WorkerOf(w))
	}
	return out, nil
}

// queueList lists every queue with tasks, queued or dead, with or without
// a consumer and workers (inspect.Inspector.Queues), and the live workers.
func (g *gateway) queueList(ctx context.Context) ([]queueBody, []adminjson.Worker, error) {
	qs, err := g.in.Queues(ctx)
	if err != nil {
		return nil, nil, err
	}
	ws, err := g.workerList(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]queueBody, 0, len(qs))
	for _, q := range qs {
		qb := queueBody{
			Queue: q.Queue, Depth: q.Depth, InFlight: q.InFlight, Redelivered: q.Redelivered, Waiting: q.Waiting,
			Dead: q.Dead, Workers: q.Workers, Paused: q.Paused,
		}
		if q.Consumed {
			qb.Consumer = g.names.Consumer(q.Queue)
		}
		if q.Idle {
			qb.Warning = noWorker
		}
		out = append(out, qb)
	}
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
	ws, err := g.workerList(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"workers": ws})
}

func (g *gateway) dlq(rw http.ResponseWriter, r *http.Request) {
	dead, err := g.in.DeadLetters(r.Context())
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	out := make([]adminjson.Letter, 0, len(dead))
	for _, d := range dead {
		out = append(out, adminjson.From(d))
	}
	writeJSON(rw, http.StatusOK, map[string]any{"tasks": out})
}

func (g *gateway) replay(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := codec.ValidID(id); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	res, err := g.in.Act(r.Context(), "replay", inspect.Task{ID: id})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	t := res[0]
	rw.Header().Set("Location", "/v1/tasks/"+t.NewID)
	writeJSON(rw, http.StatusCreated, taskRef{ID: t.NewID, Queue: t.Queue, Status: "pending", ReplayOf: id})
}
