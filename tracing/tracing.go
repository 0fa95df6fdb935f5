package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// scopeName is the instrumentation scope of strand's spans.
const scopeName = "github.com/strand-run/strand/tracing"

// Span names.
const (
	spanSubmit    = "strand.submit"
	spanQueueWait = "strand.queue_wait"
	spanRun       = "strand.run"
)

// Span attribute keys.
const (
	attrTaskID    = attribute.Key("strand.task.id")
	attrFunc      = attribute.Key("strand.func")
	attrQueue     = attribute.Key("strand.queue")
	attrAttempt   = attribute.Key("strand.attempt")
	attrOutcome   = attribute.Key("strand.outcome") // completed, or the error's kind
	attrErrorKind = attribute.Key("strand.error.kind")
)

// tracer is strand's tracer of tp, or of the global provider when tp is nil.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scopeName)
}

// propagator is W3C Trace Context: the envelope's trace field and the
// traceparent header hold its traceparent.
var propagator = propagation.TraceContext{}

const traceparent = "traceparent"

// Writer returns the producer-side middleware: a "strand.submit" span
// (kind producer) around each submission, whose traceparent goes into the
// envelope (its trace field and the traceparent header) unless it carries
// one already (the gateway's traceparent header, or a middleware's).
// Without a recording span nothing is added. The spans come from tp, or
// from the global provider (otel.GetTracerProvider) when tp is nil.
func Writer(tp trace.TracerProvider) writer.Middleware {
	t := tracer(tp)
	return func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, env *writer.Envelope) error {
			explicit := env.Trace != ""
			if explicit && !trace.SpanContextFromContext(ctx).IsValid() {
				// The caller's traceparent is the submission's parent.
				ctx = propagator.Extract(ctx, propagation.MapCarrier{traceparent: env.Trace})
			}
			ctx, span := t.Start(ctx, spanSubmit,
				trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attrTaskID.String(env.ID), attrFunc.String(env.Func), attrQueue.String(env.Queue)))
			defer span.End()
			if !explicit {
				carrier := propagation.MapCarrier{}
				propagator.Inject(ctx, carrier)
				env.Trace = carrier[traceparent]
			}
			err := next(ctx, env)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
	}
}

// Reader returns the worker-side middleware: it puts the producer's trace
// into the handler's ctx, records the time the task waited in its queue as
// a "strand.queue_wait" span (from the envelope's creation to the start of
// the run) and the run as a "strand.run" span (kind consumer) with the
// task's id, function, queue, attempt and outcome. The spans come from
// tp, or from the global provider when tp is nil.
func Reader(tp trace.TracerProvider) reader.Middleware {
	t := tracer(tp)
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, call *reader.Call) (any, error) {
			if call.Trace != "" {
				ctx = propagator.Extract(ctx, propagation.MapCarrier{traceparent: call.Trace})
			}
			task := call.Task
			attrs := []attribute.KeyValue{
				attrTaskID.String(task.ID), attrFunc.String(task.Func), attrQueue.String(task.Queue),
				attrAttempt.Int(task.Attempt),
			}
			start := time.Now()
			if !call.Queued.IsZero() && call.Queued.Before(start) {
				_, wait := t.Start(ctx, spanQueueWait, trace.WithTimestamp(call.Queued), trace.WithAttributes(attrs...))
				wait.End(trace.WithTimestamp(start))
			}
			ctx, span := t.Start(ctx, spanRun, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithTimestamp(start), trace.WithAttributes(attrs...))
			defer span.End()
			v, err := next(ctx, call)
			if err != nil {
				kind := string(strand.KindOf(err))
				span.SetAttributes(attrOutcome.String(kind), attrErrorKind.String(kind))
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			} else {
				span.SetAttributes(attrOutcome.String(string(strand.StatusCompleted)))
			}
			return v, err
		}
	}
}
