package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// run_at / delay: the task reads scheduled, then runs; bad times are 400s.
func TestDelayedSubmit(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	start := time.Now()
	code, out := e.do("POST", "/v1/tasks", `{"func": "add", "args": [2, 3], "id": "later", "delay": "2s"}`)
	e.want("submit delayed", code, http.StatusCreated, out)
	if out["status"] != "scheduled" || out["run_at"] == nil {
		t.Fatalf("submit: %v", out)
	}
	code, out = e.do("GET", "/v1/tasks/later", "")
	e.want("info", code, http.StatusOK, out)
	if out["status"] != "scheduled" || out["run_at"] == nil {
		t.Fatalf("info: %v", out)
	}
	code, out = e.do("POST", "/v1/tasks", `{"func": "add", "args": [2, 3], "id": "later"}`)
	e.want("resubmit", code, http.StatusConflict, out)
	code, out = e.do("GET", "/v1/tasks/later/result?wait=15s", "")
	e.want("result", code, http.StatusOK, out)
	if out["result"] != float64(5) || time.Since(start) < 2*time.Second {
		t.Fatalf("result %v after %v", out, time.Since(start))
	}
	code, out = e.do("POST", "/v1/tasks?wait=10s", `{"func": "add", "args": [1, 1], "run_at": "2020-01-01T00:00:00Z"}`)
	e.want("past run_at", code, http.StatusOK, out)
	for _, body := range []string{
		`{"func": "add", "run_at": "soon"}`,
		`{"func": "add", "run_at": "2030-01-01T00:00:00Z", "delay": "1s"}`,
		`{"func": "add", "delay": "-1s"}`,
		`{"func": "add", "delay": "400h"}`,
	} {
		code, out := e.do("POST", "/v1/tasks", body)
		e.want(body, code, http.StatusBadRequest, out)
	}
	// Cancelled while scheduled.
	code, out = e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 1], "id": "never", "delay": "1h"}`)
	e.want("submit", code, http.StatusCreated, out)
	code, out = e.do("DELETE", "/v1/tasks/never", "")
	e.want("cancel", code, http.StatusOK, out)
	code, out = e.do("GET", "/v1/tasks/never", "")
	if out["status"] != "cancelled" {
		t.Fatalf("after cancel: %d %v", code, out)
	}
}

// PUT, GET, list, pause, resume, DELETE a schedule; its firings run.
func TestScheduleRoutes(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("PUT", "/v1/schedules/tick", `{"func": "add", "args": [1, 1], "every": "1s"}`)
	e.want("put", code, http.StatusOK, out)
	if out["spec"] != "@every 1s" || out["next_run"] == nil || out["paused"] != false {
		t.Fatalf("put: %v", out)
	}
	deadline := time.Now().Add(timeout)
	for out["last_task"] == nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		_, out = e.do("GET", "/v1/schedules/tick", "")
	}
	last, _ := out["last_task"].(string)
	if !strings.HasPrefix(last, "tick-") {
		t.Fatalf("no firing: %v", out)
	}
	code, res := e.do("GET", "/v1/tasks/"+last+"/result?wait=10s", "")
	e.want("firing's result", code, http.StatusOK, res)
	if res["result"] != float64(2) {
		t.Fatalf("firing: %v", res)
	}
	code, out = e.do("PUT", "/v1/schedules/daily", `{"func": "echo", "args": ["hi"], "cron": "0 9 * * *", "tz": "Europe/Paris"}`)
	e.want("put cron", code, http.StatusOK, out)
	code, out = e.do("GET", "/v1/schedules", "")
	e.want("list", code, http.StatusOK, out)
	if ss, _ := out["schedules"].([]any); len(ss) != 2 {
		t.Fatalf("list: %v", out)
	}
	code, out = e.do("POST", "/v1/schedules/tick/pause", "")
	e.want("pause", code, http.StatusOK, out)
	if out["paused"] != true || out["next_run"] != nil {
		t.Fatalf("paused: %v", out)
	}
	code, out = e.do("POST", "/v1/schedules/tick/resume", "")
	e.want("resume", code, http.StatusOK, out)
	if out["paused"] != false {
		t.Fatalf("resumed: %v", out)
	}
	code, out = e.do("DELETE", "/v1/schedules/tick", "")
	e.want("delete", code, http.StatusOK, out)
	code, out = e.do("GET", "/v1/schedules/tick", "")
	e.want("get deleted", code, http.StatusNotFound, out)
	for _, tc := range []struct{ path, body string }{
		{"/v1/schedules/x", `{"func": "add", "cron": "* * *"}`},
		{"/v1/schedules/x", `{"func": "add", "cron": "0 9 * * *", "tz": "Nowhere/Town"}`},
		{"/v1/schedules/x", `{"func": "add", "every": "1s", "cron": "* * * * *"}`},
		{"/v1/schedules/x", `{"func": "add"}`},
		{"/v1/schedules/x", `{"func": "add", "every": "100ms"}`},
		{"/v1/schedules/x", `{"func": "add", "every": "1s", "nope": 1}`},
		{"/v1/schedules/x.y", `{"func": "add", "every": "1s"}`},
	} {
		code, out := e.do("PUT", tc.path, tc.body)
		e.want(tc.path+" "+tc.body, code, http.StatusBadRequest, out)
	}
	code, out = e.do("GET", "/v1/schedules", "")
	if ss, _ := out["schedules"].([]any); code != http.StatusOK || len(ss) != 1 {
		t.Fatalf("after refusals: %d %v", code, out)
	}
}
