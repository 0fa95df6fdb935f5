package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var gatewayLine = regexp.MustCompile(`HTTP gateway: (http://\S+)/v1/`)

// startCommand runs a long-lived strand command in-process and returns the
// gateway's base URL once it is printed; the command is stopped (as by a
// signal) at cleanup and must exit 0.
func startCommand(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := new(lockedBuffer), new(lockedBuffer)
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, out, errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("strand %q: exit %d\nstderr: %s", args, c, errOut.String())
			}
		case <-time.After(time.Minute):
			t.Errorf("strand %q did not stop within a minute", args)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := gatewayLine.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "ready") {
			return m[1]
		}
		select {
		case c := <-code:
			code <- c
			t.Fatalf("strand %q: exit %d before serving\nstdout: %s\nstderr: %s", args, c, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("strand %q: no gateway URL printed\nstdout: %s", args, out.String())
		}
	}
}

// call sends one request to a gateway and returns its status and body.
func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func TestGatewayCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	base := startCommand(t, "gateway", "--server", w.url, "--http", "127.0.0.1:0", "--http-token", "tok")
	code, out := call(t, "POST", base+"/v1/tasks?wait=20s", "tok", `{"func": "add", "args": [2, 3]}`)
	if code != http.StatusOK || out["result"] != 5.0 {
		t.Fatalf("submit: %d %v", code, out)
	}
	if code, out := call(t, "GET", base+"/v1/queues", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %v", code, out)
	}
}

func TestServerHTTP(t *testing.T) {
	t.Parallel()
	base := startCommand(t, "server", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--http", "127.0.0.1:0")
	code, out := call(t, "POST", base+"/v1/tasks", "", `{"func": "add", "args": [2, 3], "id": "queued"}`)
	if code != http.StatusCreated || out["id"] != "queued" {
		t.Fatalf("submit: %d %v", code, out)
	}
	// No worker: the task waits.
	code, out = call(t, "GET", base+"/v1/tasks/queued/result?wait=50ms", "", "")
	if code != http.StatusAccepted || out["status"] != "pending" {
		t.Fatalf("result: %d %v", code, out)
	}
}

func TestDevHTTP(t *testing.T) {
	t.Parallel()
	base := startCommand(t, "dev", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--http", "127.0.0.1:0")
	code, out := call(t, "POST", base+"/v1/tasks?wait=20s", "", `{"func": "echo", "args": [[1, "a"]]}`)
	if got, _ := json.Marshal(out["result"]); code != http.StatusOK || string(got) != `[1,"a"]` {
		t.Fatalf("submit: %d %v", code, out)
	}
}
