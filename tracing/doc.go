// Package tracing carries a W3C traceparent from the producer through the
// task's envelope to the handler's ctx, with OpenTelemetry spans for the
// submission ("strand.submit"), the wait in the queue ("strand.queue_wait")
// and the run ("strand.run").
//
// It is off by default: given a nil TracerProvider, the middleware use the
// global one, which is a no-op until the application sets one
// (otel.SetTracerProvider), so a writer without a span in its ctx adds no
// traceparent at all.
//
//	w, _ := writer.New(b, writer.Config{Middleware: []writer.Middleware{tracing.Writer(nil)}})
//	r, _ := reader.New(b, reg, reader.Config{Middleware: []reader.Middleware{tracing.Reader(nil)}})
//
// A handler then finds the producer's trace in its ctx:
// trace.SpanContextFromContext(ctx).TraceID() is the submitter's trace id.
package tracing
