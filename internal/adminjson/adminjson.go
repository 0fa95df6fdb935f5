// Package adminjson is the JSON form of what the gateway and the CLI both
// print from the inspector: dead letters (GET /v1/dlq, `strand dlq list
// --json`) and workers (GET /v1/workers, `strand workers --json`), one type
// each so that the two never drift apart.
package adminjson

import (
	"time"

	"github.com/strand-run/strand/inspect"
)

// Letter is one dead letter as JSON.
type Letter struct {
	ID       string    `json:"id"`
	Func     string    `json:"func"`
	Queue    string    `json:"queue"`
	Kind     string    `json:"kind"`  // the last error's kind
	Error    string    `json:"error"` // the last error's message
	Attempts int       `json:"attempts"`
	Failed   time.Time `json:"failed"`
	Seq      uint64    `json:"seq"` // its sequence in the dead-letter stream
}

// From is d as JSON.
func From(d inspect.Task) Letter {
	return Letter{ID: d.ID, Func: d.Func, Queue: d.Queue, Kind: d.Kind, Error: d.Error, Attempts: d.Attempt, Failed: d.Finished, Seq: d.Seq}
}

// Worker is one live worker as JSON: its heartbeat record's fields, times
// in unix ms.
type Worker struct {
	ID          string   `json:"id"`
	Host        string   `json:"host,omitempty"`
	PID         int      `json:"pid,omitempty"`
	Queues      []string `json:"queues"`
	Functions   []string `json:"functions"`
	Concurrency int      `json:"concurrency"`
	InFlight    int      `json:"in_flight"`
	Started     int64    `json:"started"`
	Beat        int64    `json:"beat"`
	Version     string   `json:"version,omitempty"`
}

// WorkerOf is w as JSON.
func WorkerOf(w inspect.WorkerInfo) Worker {
	return Worker{
		ID: w.ID, Host: w.Host, PID: w.PID, Queues: w.Queues, Functions: w.Functions,
		Concurrency: w.Concurrency, InFlight: w.InFlight, Started: w.Started.UnixMilli(), Beat: w.Beat.UnixMilli(),
		Version: w.Version,
	}
}
