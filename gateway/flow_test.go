package gateway

import (
	"net/http"
	"testing"
	"time"
)

func TestPauseResumeRoutes(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("POST", "/v1/queues/default/pause", "")
	e.want("pause", code, http.StatusOK, out)
	if out["paused"] != true || out["since"] == nil || out["queue"] != "default" {
		t.Fatalf("pause: %v", out)
	}
	code, out = e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 2]}`)
	e.want("submit", code, http.StatusCreated, out)
	id, _ := out["id"].(string)
	time.Sleep(500 * time.Millisecond)
	code, out = e.do("GET", "/v1/tasks/"+id, "")
	e.want("info", code, http.StatusOK, out)
	if out["status"] != "pending" || out["waiting"] != "paused" {
		t.Fatalf("a task of a paused queue: %v", out)
	}
	code, out = e.do("GET", "/v1/queues/default/pause", "")
	e.want("paused?", code, http.StatusOK, out)
	if out["paused"] != true {
		t.Fatalf("paused?: %v", out)
	}
	code, out = e.do("POST", "/v1/queues/default/resume", "")
	e.want("resume", code, http.StatusOK, out)
	if out["paused"] != false {
		t.Fatalf("resume: %v", out)
	}
	code, out = e.do("GET", "/v1/tasks/"+id+"/result?wait=20s", "")
	e.want("result", code, http.StatusOK, out)
	if out["status"] != "completed" || out["result"] != float64(3) {
		t.Fatalf("result after resume: %v", out)
	}
	code, out = e.do("POST", "/v1/queues/no.such/pause", "")
	e.want("bad queue", code, http.StatusBadRequest, out)
}

func TestSubmitFlowFields(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("POST", "/v1/tasks?wait=20s", `{"func": "add", "args": [1, 2], "priority": "high"}`)
	e.want("high", code, http.StatusOK, out)
	if out["status"] != "completed" {
		t.Fatalf("high: %v", out)
	}
	code, out = e.do("POST", "/v1/tasks", `{"func": "sleep", "args": [2000], "key": "k1", "unique_for": "finished"}`)
	e.want("unique", code, http.StatusCreated, out)
	first := out["id"]
	code, out = e.do("POST", "/v1/tasks", `{"func": "sleep", "args": [2000], "key": "k1", "unique_for": "finished"}`)
	e.want("unique again", code, http.StatusOK, out)
	if out["id"] != first || out["existing"] != true {
		t.Fatalf("a held key: %v (first %v)", out, first)
	}
	for _, c := range []struct{ body, what string }{
		{`{"func": "add", "priority": "urgent"}`, "unknown priority"},
		{`{"func": "add", "key": "a.b", "unique_for": "1m"}`, "key not a subject token"},
		{`{"func": "add", "unique_for": "1m"}`, "unique without a key"},
		{`{"func": "add", "key": "k", "unique_for": "48h"}`, "window beyond the result TTL"},
		{`{"func": "add", "key": "k", "debounce": "500ms"}`, "debounce below 1s"},
		{`{"func": "add", "fair": true}`, "fair without a key"},
	} {
		code, out = e.do("POST", "/v1/tasks", c.body)
		e.want(c.what, code, http.StatusBadRequest, out)
	}
}
