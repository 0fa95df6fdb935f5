package codec

import "fmt"

// Worker is a worker's heartbeat record: the value of key <worker-id> in
// the workers bucket, rewritten every heartbeat with a per-key TTL of three
// heartbeats, so that a record outlives its worker by at most that long.
// Workers write it in msgpack; docs/protocol.md is its specification.
type Worker struct {
	ID          string   `msgpack:"id" json:"id"`
	Host        string   `msgpack:"host,omitempty" json:"host,omitempty"`
	PID         int      `msgpack:"pid,omitempty" json:"pid,omitempty"`
	Queues      []string `msgpack:"queues" json:"queues"`
	Functions   []string `msgpack:"functions" json:"functions"`
	Concurrency int      `msgpack:"concurrency" json:"concurrency"`
	InFlight    int      `msgpack:"in_flight" json:"in_flight"`                 // tasks running now
	Started     int64    `msgpack:"started" json:"started"`                     // unix ms the worker started
	Beat        int64    `msgpack:"beat" json:"beat"`                           // unix ms of this heartbeat
	Version     string   `msgpack:"version,omitempty" json:"version,omitempty"` // strand's module version, or "dev"
}

// EncodeWorker encodes a heartbeat record in msgpack.
func EncodeWorker(w *Worker) ([]byte, error) {
	if w.ID == "" {
		return nil, fmt.Errorf("%w: worker record without id", ErrMalformed)
	}
	return Msgpack.Marshal(w)
}

// DecodeWorker decodes a heartbeat record; the format is sniffed, so a
// worker in another language may write JSON. Unknown keys are ignored.
func DecodeWorker(b []byte) (_ *Worker, err error) {
	defer recoverMalformed(&err, "worker")
	var w Worker
	if err := Sniff(b).Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: worker: %v", ErrMalformed, err)
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%w: worker record without id", ErrMalformed)
	}
	return &w, nil
}
