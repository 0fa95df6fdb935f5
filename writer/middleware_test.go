package writer_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/internal/opt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// runWorker runs a reader for reg until the test ends.
func runWorker(t *testing.T, srv *server.Server, reg *registry.Registry) {
	t.Helper()
	r, err := reader.New(brokertest.Connect(t, srv, broker.Config{}), reg, reader.Config{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestWriterMiddlewareAndCaller(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	reg := registry.New()
	reg.MustRegister("whoami", func(ctx context.Context) (map[string]string, error) {
		task, _ := strand.TaskFrom(ctx)
		return task.Meta, nil
	})
	runWorker(t, srv, reg)
	refused := errors.New("no tasks named secret")
	var seen []string
	stamp := func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, env *writer.Envelope) error {
			if env.Func == "secret" {
				return refused
			}
			seen = append(seen, env.Func)
			env.Meta["stamped"] = "yes" // the caller made Meta
			return next(ctx, env)
		}
	}
	w, err := writer.New(b, writer.Config{Caller: "svc-a", Middleware: []writer.Middleware{stamp}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, c := range []struct {
		opts []strand.Option
		want string
	}{{nil, "svc-a"}, {[]strand.Option{strand.Caller("svc-b")}, "svc-b"}} {
		h, err := w.Submit(ctx, "whoami", nil, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]string
		if err := h.Result(ctx, &meta); err != nil {
			t.Fatal(err)
		}
		if meta[opt.MetaCaller] != c.want || meta["stamped"] != "yes" {
			t.Fatalf("meta %v, want caller %s and stamped", meta, c.want)
		}
	}
	if _, err := w.Submit(ctx, "secret", nil); !errors.Is(err, refused) {
		t.Fatalf("Submit(secret) = %v, want the middleware's refusal", err)
	}
	hs, errs := w.SubmitBatch(ctx, []writer.Call{{Func: "whoami"}, {Func: "secret"}})
	if errs[0] != nil || !errors.Is(errs[1], refused) || hs[1] != nil {
		t.Fatalf("SubmitBatch errors %v", errs)
	}
	var meta map[string]string
	if err := hs[0].Result(ctx, &meta); err != nil || meta["stamped"] != "yes" {
		t.Fatalf("batch task: %v %v", meta, err)
	}
	if len(seen) != 3 {
		t.Fatalf("middleware saw %v", seen)
	}
}

// upperJSON is a JSON variant with a content type of its own.
type upperJSON struct{}

func (upperJSON) Name() string                    { return "test-json" }
func (upperJSON) ContentType() string             { return "application/vnd.strand-writer-test+json" }
func (upperJSON) Marshal(v any) ([]byte, error)   { return json.MarshalIndent(v, "", "\t") }
func (upperJSON) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

var (
	registerUpper sync.Once
	registerErr   error
)

func TestCustomCodecRoundTrip(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	runWorker(t, srv, reg)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := w.Submit(ctx, "add", []any{1, 2}, strand.Encoding("test-none")); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("an unregistered codec: %v, want ErrBadOption", err)
	}
	// Codecs are registered for the process: once, however often the test runs (-count).
	registerUpper.Do(func() { _, registerErr = codec.Register(upperJSON{}, codec.JSON) })
	if registerErr != nil {
		t.Fatal(registerErr)
	}
	h, err := w.Submit(ctx, "add", []any{2, 3}, strand.Encoding("test-json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("add = %d, %v", sum, err)
	}
	e, err := link.Core(b).Read(ctx, link.Core(b).Names().ResultKey("default", h.ID()))
	if err != nil || e == nil {
		t.Fatal(err)
	}
	if got := e.Data; len(got) < 2 || got[0] != '{' || got[1] != '\n' {
		t.Fatalf("outcome not written by the custom codec: %q", got)
	}
}
