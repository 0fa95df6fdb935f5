package gateway

import (
	"net/http"
	"net/url"
	"testing"
)

func TestListTasks(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	for _, body := range []string{
		`{"func": "add", "args": [1, 2]}`, `{"func": "add", "args": [3, 4], "meta": {"tenant": "acme"}}`,
		`{"func": "add", "args": [5, 6]}`, `{"func": "fail", "args": ["no disk left"]}`,
	} {
		code, ref := e.do("POST", "/v1/tasks?wait=10s", body)
		e.want("submit", code, http.StatusOK, ref)
	}
	code, page := e.do("GET", "/v1/tasks?status=failed", "")
	e.want("list failed", code, http.StatusOK, page)
	tasks, _ := page["tasks"].([]any)
	if len(tasks) != 1 || tasks[0].(map[string]any)["func"] != "fail" || page["next"] != nil {
		t.Fatalf("failed: %v", page)
	}
	seen := map[string]bool{}
	cursor := ""
	for range 3 {
		code, page = e.do("GET", "/v1/tasks?status=completed&limit=2&cursor="+url.QueryEscape(cursor), "")
		e.want("list completed", code, http.StatusOK, page)
		for _, tk := range page["tasks"].([]any) {
			seen[tk.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 3 {
		t.Fatalf("completed in pages of 2: %v", seen)
	}
	code, page = e.do("GET", "/v1/tasks?meta=tenant%3Dacme", "")
	if tasks, _ := page["tasks"].([]any); code != 200 || len(tasks) != 1 {
		t.Fatalf("meta tenant=acme: %d %v", code, page)
	}
	code, page = e.do("GET", "/v1/tasks?error=DISK", "")
	if tasks, _ := page["tasks"].([]any); code != 200 || len(tasks) != 1 {
		t.Fatalf("error disk: %d %v", code, page)
	}
	for _, bad := range []string{"status=lost", "limit=x", "limit=501", "cursor=zz", "queue=a.b", "meta=x"} {
		code, body := e.do("GET", "/v1/tasks?"+bad, "")
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %v", bad, code, body)
		}
	}
}

func TestBulkActions(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	var failed []string
	for i := range 3 {
		code, out := e.do("POST", "/v1/tasks?wait=10s", `{"func": "fail", "args": ["boom `+string(rune('a'+i))+`"], "meta": {"tenant": "acme"}}`)
		e.want("submit fail", code, http.StatusOK, out)
		failed = append(failed, out["id"].(string))
	}
	code, out := e.do("POST", "/v1/tasks?wait=10s", `{"func": "add", "args": [1, 2]}`)
	e.want("submit add", code, http.StatusOK, out)
	done := out["id"].(string)

	// A dry run shows what a filter selects; the action applies to failed tasks only.
	code, rep := e.do("POST", "/v1/tasks/actions", `{"action": "retry", "filter": {"meta": {"tenant": "acme"}}, "dry_run": true}`)
	e.want("dry run", code, http.StatusOK, rep)
	if rep["matched"] != 3.0 || rep["done"] != 0.0 {
		t.Fatalf("dry run: %v", rep)
	}
	code, rep = e.do("POST", "/v1/tasks/actions", `{"action": "retry", "filter": {"func": "fail"}}`)
	e.want("retry", code, http.StatusOK, rep)
	if rep["matched"] != 3.0 || rep["done"] != 3.0 {
		t.Fatalf("retry: %v", rep)
	}
	for _, r := range rep["results"].([]any) {
		nid, _ := r.(map[string]any)["new_id"].(string)
		code, res := e.do("GET", "/v1/tasks/"+nid+"/result?wait=10s", "")
		if code != http.StatusOK || res["status"] != "failed" {
			t.Fatalf("retried task %s: %d %v", nid, code, res)
		}
		code, info := e.do("GET", "/v1/tasks/"+nid, "")
		if meta, _ := info["meta"].(map[string]any); code != 200 || meta["tenant"] != "acme" || meta["resubmit_of"] == nil {
			t.Fatalf("retried task's info: %v", info)
		}
	}
	// By id: a completed task cannot be retried, but can be deleted.
	code, rep = e.do("POST", "/v1/tasks/actions", `{"action": "retry", "ids": ["`+done+`", "`+failed[0]+`"]}`)
	if code != 200 || rep["done"] != 1.0 || rep["failed"] != 1.0 {
		t.Fatalf("retry by id: %d %v", code, rep)
	}
	code, rep = e.do("POST", "/v1/tasks/actions", `{"action": "delete", "ids": ["`+done+`"]}`)
	if code != 200 || rep["done"] != 1.0 {
		t.Fatalf("delete: %d %v", code, rep)
	}
	if code, _ := e.do("GET", "/v1/tasks/"+done, ""); code != http.StatusNotFound {
		t.Fatalf("deleted task: %d", code)
	}
	// Cancel by filter: the pending tasks of a queue without a worker.
	for range 2 {
		code, out := e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 2], "queue": "idle"}`)
		e.want("submit idle", code, http.StatusCreated, out)
	}
	code, rep = e.do("POST", "/v1/tasks/actions", `{"action": "cancel", "filter": {"queue": "idle"}}`)
	if code != 200 || rep["done"] != 2.0 {
		t.Fatalf("cancel: %d %v", code, rep)
	}
	code, page := e.do("GET", "/v1/tasks?queue=idle&status=cancelled", "")
	if tasks, _ := page["tasks"].([]any); code != 200 || len(tasks) != 2 {
		t.Fatalf("cancelled: %v", page)
	}
	for _, bad := range []string{
		`{"action": "explode", "ids": ["x"]}`, `{"action": "retry"}`, `{"action": "retry", "ids": ["a.b"]}`,
		`{"action": "cancel", "filter": {"status": "completed"}}`, `{"action": "retry", "ids": ["x"], "filter": {}}`,
	} {
		if code, body := e.do("POST", "/v1/tasks/actions", bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d %v", bad, code, body)
		}
	}
}

func TestReplayMany(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	for range 2 {
		code, out := e.do("POST", "/v1/tasks?wait=10s", `{"func": "fail", "args": ["x"], "max_attempts": 2}`)
		if code != 200 || out["status"] != "dead" {
			t.Fatalf("dead task: %d %v", code, out)
		}
	}
	code, rep := e.do("POST", "/v1/dlq/replay", "")
	if code != 200 || rep["done"] != 2.0 {
		t.Fatalf("replay all: %d %v", code, rep)
	}
}

func TestStatsRoute(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	for _, body := range []string{`{"func": "add", "args": [1, 2]}`, `{"func": "fail", "args": ["x"]}`} {
		code, out := e.do("POST", "/v1/tasks?wait=10s", body)
		e.want("submit", code, http.StatusOK, out)
	}
	code, out := e.do("GET", "/v1/stats?minutes=10", "")
	e.want("stats", code, http.StatusOK, out)
	qs, _ := out["queues"].([]any)
	if len(qs) != 1 {
		t.Fatalf("stats: %v", out)
	}
	ms := qs[0].(map[string]any)["minutes"].([]any)
	var processed, failed float64
	for _, m := range ms {
		processed += m.(map[string]any)["processed"].(float64)
		failed += m.(map[string]any)["failed"].(float64)
	}
	if len(ms) != 10 || processed != 2 || failed != 1 {
		t.Fatalf("stats: %d minutes, %v processed, %v failed: %v", len(ms), processed, failed, out)
	}
	if code, _ := e.do("GET", "/v1/stats?queue=a.b", ""); code != http.StatusBadRequest {
		t.Fatalf("bad queue: %d", code)
	}
}
