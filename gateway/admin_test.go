package gateway

import (
	"net/http"
	"testing"
)

// A queue with tasks and no worker is listed, with a warning.
func TestQueuesWithoutWorker(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, body := e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 2], "queue": "idle"}`)
	e.want("submit", code, http.StatusCreated, body)
	code, body = e.do("GET", "/v1/queues", "")
	e.want("queues", code, http.StatusOK, body)
	qs, _ := body["queues"].([]any)
	var idle map[string]any
	for _, q := range qs {
		if m, _ := q.(map[string]any); m["queue"] == "idle" {
			idle = m
		}
	}
	if idle == nil || idle["depth"] != 1.0 || idle["consumer"] != "" || idle["workers"] != 0.0 || idle["warning"] == nil {
		t.Fatalf("queues: %v", qs)
	}
}
