package middleware

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// WorkerMetrics returns worker middleware that counts the tasks a worker
// runs in Prometheus series, labelled by function and queue, and registers
// them with reg (for example prometheus.DefaultRegisterer, or a
// prometheus.NewRegistry()). Every worker exports its own; Prometheus sums
// them across processes:
//
//	strand_tasks_started_total{func,queue}       handler calls started
//	strand_tasks_completed_total{func,queue}     calls that returned a result
//	strand_tasks_failed_total{func,queue,kind}   calls that returned an error (retried attempts included)
//	strand_task_duration_seconds{func,queue}     handler call durations
//	strand_tasks_in_flight{func,queue}           handler calls running now
//
// Call it once per registry: a second call on the same registry is refused
// (the series are registered already).
func WorkerMetrics(reg prometheus.Registerer) (reader.Middleware, error) {
	labels := []string{"func", "queue"}
	started := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strand_tasks_started_total", Help: "Handler calls started by this worker.",
	}, labels)
	completed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strand_tasks_completed_total", Help: "Handler calls that returned a result.",
	}, labels)
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strand_tasks_failed_total", Help: "Handler calls that returned an error, by error kind (retried attempts included).",
	}, []string{"func", "queue", "kind"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strand_task_duration_seconds", Help: "How long handler calls ran.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms … 131 s
	}, labels)
	inFlight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strand_tasks_in_flight", Help: "Handler calls running now.",
	}, labels)
	if err := register(reg, started, completed, failed, duration, inFlight); err != nil {
		return nil, err
	}
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			fn, q := c.Task.Func, c.Task.Queue
			started.WithLabelValues(fn, q).Inc()
			g := inFlight.WithLabelValues(fn, q)
			g.Inc()
			start := time.Now()
			v, err := next(ctx, c)
			duration.WithLabelValues(fn, q).Observe(time.Since(start).Seconds())
			g.Dec()
			if err != nil {
				failed.WithLabelValues(fn, q, outcome(err)).Inc()
			} else {
				completed.WithLabelValues(fn, q).Inc()
			}
			return v, err
		}
	}, nil
}

// SubmitMetrics returns writer middleware that counts the tasks a producer
// submits, strand_tasks_submitted_total{func,queue}, and registers the
// series with reg. Call it once per registry.
func SubmitMetrics(reg prometheus.Registerer) (writer.Middleware, error) {
	submitted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strand_tasks_submitted_total", Help: "Tasks submitted by this process.",
	}, []string{"func", "queue"})
	if err := register(reg, submitted); err != nil {
		return nil, err
	}
	return func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, env *writer.Envelope) error {
			if err := next(ctx, env); err != nil {
				return err
			}
			submitted.WithLabelValues(env.Func, env.Queue).Inc()
			return nil
		}
	}, nil
}

// register registers cs with reg, all or none.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
