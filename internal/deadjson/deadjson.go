// Package deadjson is the JSON form of a dead letter, one for GET /v1/dlq
// and `strand dlq list --json`.
package deadjson

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
