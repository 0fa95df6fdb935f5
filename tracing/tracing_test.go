package tracing_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/tracing"
	"github.com/strand-run/strand/writer"
)

const timeout = 20 * time.Second

// TestOneTrace follows one trace id from a producer's span through the
// envelope to the handler's ctx, and checks the spans recorded on the way.
func TestOneTrace(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	_, b := brokertest.New(t)
	reg := registry.New()
	if err := reg.Register("traceid", func(ctx context.Context) (string, error) {
		return trace.SpanContextFromContext(ctx).TraceID().String(), nil
	}); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{
		Concurrency: 1, RunningAfter: -1, ShutdownTimeout: 100 * time.Millisecond,
		Middleware: []reader.Middleware{tracing.Reader(tp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	w, err := writer.New(b, writer.Config{Middleware: []writer.Middleware{tracing.Writer(tp)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })

	pctx, parent := tp.Tracer("test").Start(ctx, "parent")
	h, err := w.Submit(pctx, "traceid", nil)
	if err != nil {
		t.Fatal(err)
	}
	parent.End()
	var got string
	if err := h.Result(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := parent.SpanContext().TraceID().String()
	if got != want {
		t.Fatalf("the handler saw trace %s, the producer's is %s", got, want)
	}

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
		if s.SpanContext().TraceID().String() != want {
			t.Errorf("span %s: trace %s, want %s", s.Name(), s.SpanContext().TraceID(), want)
		}
	}
	for name, kind := range map[string]trace.SpanKind{
		"strand.submit": trace.SpanKindProducer, "strand.queue_wait": trace.SpanKindInternal, "strand.run": trace.SpanKindConsumer,
	} {
		s, ok := spans[name]
		if !ok {
			t.Errorf("span %s not recorded; got %v", name, rec.Ended())
			continue
		}
		if s.SpanKind() != kind {
			t.Errorf("span %s: kind %v, want %v", name, s.SpanKind(), kind)
		}
	}
	if s := spans["strand.run"]; s != nil {
		if s.Parent().SpanID() != spans["strand.submit"].SpanContext().SpanID() {
			t.Errorf("run's parent is %s, want the submit span", s.Parent().SpanID())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		for k, v := range map[string]string{
			"strand.task.id": h.ID(), "strand.func": "traceid", "strand.queue": "default",
			"strand.attempt": "1", "strand.outcome": "completed",
		} {
			if attrs[k] != v {
				t.Errorf("run span %s = %q, want %q", k, attrs[k], v)
			}
		}
	}
}

// TestOffByDefault: with a no-op provider and no span in ctx, a submission
// carries no traceparent; one the envelope carries already (the gateway's) is kept.
func TestOffByDefault(t *testing.T) {
	t.Parallel()
	for _, given := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		var sent string
		mw := tracing.Writer(noop.NewTracerProvider())
		submit := mw(func(_ context.Context, env *writer.Envelope) error {
			sent = env.Trace
			return nil
		})
		if err := submit(context.Background(), &writer.Envelope{ID: "x", Func: "f", Trace: given}); err != nil {
			t.Fatal(err)
		}
		if sent != given {
			t.Errorf("traceparent %q, want %q", sent, given)
		}
	}
}
