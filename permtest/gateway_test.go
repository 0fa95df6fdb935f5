package permtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/gateway"
	"github.com/strand-run/strand/writer"
)

// A gateway whose NATS user may not do what a request asks (here: submit
// to a queue other than its producer's) answers 403 with kind forbidden at
// once, not 500.
func TestGatewayForbidden(t *testing.T) {
	url := startServer(t)
	connect(t, url, "admin") // provisions the streams
	producer := connect(t, url, "producer-a")
	w, err := writer.New(producer, writer.Config{Queue: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv := httptest.NewServer(gateway.New(w, producer, gateway.Config{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/tasks",
		strings.NewReader(`{"func": "add", "args": [1, 2], "queue": "b"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Kind, Message string } `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || body.Error.Kind != "forbidden" {
		t.Fatalf("submit to queue b as producer-a: %d %+v; want 403 forbidden", resp.StatusCode, body.Error)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the refusal took %v", d)
	}
	t.Logf("403 %s: %s", body.Error.Kind, body.Error.Message)
}
