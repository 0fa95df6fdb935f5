package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strand-run/strand/internal/link"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/writer"
)

// A traceparent on POST /v1/tasks travels on in the task's envelope.
func TestSubmitKeepsTraceparent(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := httptest.NewServer(New(w, b, Config{}))
	t.Cleanup(srv.Close)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest("POST", srv.URL+"/v1/tasks", strings.NewReader(`{"func":"add","args":[1,2],"id":"traced"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	e, err := link.Core(b).Queued(t.Context(), "default", "traced")
	if err != nil || e == nil {
		t.Fatal(err)
	}
	env, err := codec.DecodeEnvelope(codec.JSON, e.Data)
	if err != nil {
		t.Fatal(err)
	}
	if env.Trace != tp {
		t.Fatalf("envelope trace %q, want %q", env.Trace, tp)
	}
}
