package middleware

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// Metrics counts tasks in Prometheus series, labelled by function and
// queue. Every worker and producer exports its own; Prometheus sums them
// across processes:
//
//	strand_tasks_submitted_total{func,queue}     tasks submitted (writer)
//	strand_tasks_started_total{func,queue}       handler calls started (reader)
//	strand_tasks_completed_total{func,queue}     calls that returned a result
//	strand_tasks_failed_total{func,queue,kind}   calls that returned an error (retried attempts included)
//	strand_task_duration_seconds{func,queue}     handler call durations
//	strand_tasks_in_flight{func,queue}           handler calls running now
type Metrics struct {
	submitted *prometheus.CounterVec
	started   *prometheus.CounterVec
	completed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
}

// NewMetrics creates the series and registers them with reg (for example
// prometheus.DefaultRegisterer, or a prometheus.NewRegistry()).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"func", "queue"}
	m := &Metrics{
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_tasks_submitted_total", Help: "Tasks submitted by this process.",
		}, labels),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_tasks_started_total", Help: "Handler calls started by this worker.",
		}, labels),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_tasks_completed_total", Help: "Handler calls that returned a result.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_tasks_failed_total", Help: "Handler calls that returned an error, by error kind (retried attempts included).",
		}, []string{"func", "queue", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strand_task_duration_seconds", Help: "How long handler calls ran.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms … 131 s
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strand_tasks_in_flight", Help: "Handler calls running now.",
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.submitted, m.started, m.completed, m.failed, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Reader returns the worker-side middleware: started, completed, failed,
// duration and in-flight.
func (m *Metrics) Reader() reader.Middleware {
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			fn, q := c.Task.Func, c.Task.Queue
			m.started.WithLabelValues(fn, q).Inc()
			g := m.inFlight.WithLabelValues(fn, q)
			g.Inc()
			start := time.Now()
			v, err := next(ctx, c)
			m.duration.WithLabelValues(fn, q).Observe(time.Since(start).Seconds())
			g.Dec()
			if err != nil {
				m.failed.WithLabelValues(fn, q, Outcome(err)).Inc()
			} else {
				m.completed.WithLabelValues(fn, q).Inc()
			}
			return v, err
		}
	}
}

// Writer returns the producer-side middleware: it counts submitted tasks.
func (m *Metrics) Writer() writer.Middleware {
	return func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, env *writer.Envelope) error {
			if err := next(ctx, env); err != nil {
				return err
			}
			m.submitted.WithLabelValues(env.Func, env.Queue).Inc()
			return nil
		}
	}
}
