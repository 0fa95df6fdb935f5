package gateway

import (
	"net/http"
	"testing"
	"time"
)

// TestFlowRoutes: a chain submitted over HTTP, waited for, read back and
// its status documented; a refused definition; a cancel of a running one.
func TestFlowRoutes(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("POST", "/v1/flows?wait=20s", `{"steps": {
		"a": {"func": "add", "args": [1, 2]},
		"b": {"func": "add", "args": [10], "after": ["a"]}}}`)
	if code != http.StatusOK || out["status"] != "completed" {
		t.Fatalf("POST /v1/flows?wait: %d %v", code, out)
	}
	steps, _ := out["steps"].([]any)
	if len(steps) != 2 {
		t.Fatalf("steps %v", out["steps"])
	}
	if last, _ := steps[1].(map[string]any); last["result"] != float64(13) || last["task_id"] != out["id"].(string)+"=b" {
		t.Fatalf("step b: %v", last)
	}
	id := out["id"].(string)
	code, got := e.do("GET", "/v1/flows/"+id, "")
	if code != http.StatusOK || got["status"] != "completed" || got["id"] != id {
		t.Fatalf("GET /v1/flows/%s: %d %v", id, code, got)
	}
	code, got = e.do("GET", "/v1/tasks/"+id+"=b", "")
	if code != http.StatusOK || got["status"] != "completed" {
		t.Fatalf("a step is a task: %d %v", code, got)
	}
	if code, got = e.do("DELETE", "/v1/flows/"+id, ""); code != http.StatusConflict {
		t.Fatalf("cancel of an ended workflow: %d %v", code, got)
	}

	code, got = e.do("POST", "/v1/flows", `{"steps": {"a": {"func": "add", "after": ["b"]}, "b": {"func": "add", "after": ["a"]}}}`)
	if code != http.StatusBadRequest || got["error"].(map[string]any)["kind"] != "bad_request" {
		t.Fatalf("a cycle: %d %v", code, got)
	}
	if code, got = e.do("POST", "/v1/flows", `{"steps": {"a": {"fn": "add"}}}`); code != http.StatusBadRequest {
		t.Fatalf("an unknown key: %d %v", code, got)
	}
	if code, got = e.do("GET", "/v1/flows/nosuch", ""); code != http.StatusNotFound {
		t.Fatalf("unknown workflow: %d %v", code, got)
	}

	code, got = e.do("POST", "/v1/flows", `{"steps": {"s": {"func": "sleep", "args": [20000]}, "t": {"func": "add", "args": [1, 2], "after": ["s"], "results": "none"}}}`)
	if code != http.StatusCreated || got["status"] != "pending" {
		t.Fatalf("POST /v1/flows: %d %v", code, got)
	}
	id = got["id"].(string)
	time.Sleep(200 * time.Millisecond)
	if code, got = e.do("DELETE", "/v1/flows/"+id, ""); code != http.StatusOK || got["status"] != "cancelled" {
		t.Fatalf("DELETE /v1/flows/%s: %d %v", id, code, got)
	}
	for deadline := time.Now().Add(timeout); ; {
		_, got = e.do("GET", "/v1/flows/"+id, "")
		s := got["steps"].([]any)
		if got["status"] == "cancelled" && s[0].(map[string]any)["status"] == "cancelled" && s[1].(map[string]any)["status"] == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cancel: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
