package middleware

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/writer"
)

// QueueCollector reads JetStream on every scrape and exports what the
// server holds, whichever process runs the tasks:
//
//	strand_queue_depth{queue}        tasks waiting, not yet delivered to a worker
//	strand_queue_in_flight{queue}    tasks delivered, not yet acknowledged
//	strand_queue_redelivered{queue}  in-flight tasks delivered more than once
//	strand_queue_waiting{queue}      pull requests of workers waiting for tasks
//	strand_workers                   live workers (heartbeat records)
//	strand_dlq_tasks{queue}          dead tasks in the dead-letter stream
//
// A read that fails is reported as a scrape error of its series.
type QueueCollector struct {
	b       *broker.Broker
	w       *writer.Writer
	timeout time.Duration

	depth, inFlight, redelivered, waiting, workers, dlq *prometheus.Desc
	queueWorkers                                        *prometheus.Desc
}

// ScrapeTimeout bounds the JetStream reads of one scrape.
const ScrapeTimeout = 5 * time.Second

// NewQueueCollector returns the collector over b; w lists the workers.
// Register it with a prometheus.Registerer.
func NewQueueCollector(b *broker.Broker, w *writer.Writer) *QueueCollector {
	q := []string{"queue"}
	return &QueueCollector{
		b: b, w: w, timeout: ScrapeTimeout,
		depth:       prometheus.NewDesc("strand_queue_depth", "Tasks waiting in the queue, not yet delivered to a worker.", q, nil),
		inFlight:    prometheus.NewDesc("strand_queue_in_flight", "Tasks delivered to workers and not yet acknowledged.", q, nil),
		redelivered: prometheus.NewDesc("strand_queue_redelivered", "In-flight tasks delivered more than once.", q, nil),
		waiting:     prometheus.NewDesc("strand_queue_waiting", "Pull requests of workers waiting for tasks.", q, nil),
		workers:     prometheus.NewDesc("strand_workers", "Live workers (heartbeat records in the workers bucket).", nil, nil),
		dlq:         prometheus.NewDesc("strand_dlq_tasks", "Dead tasks held in the dead-letter stream.", q, nil),
		queueWorkers: prometheus.NewDesc("strand_queue_workers",
			"Live workers that consume the queue; 0 for a queue with tasks and no worker (they wait).", q, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.inFlight, c.redelivered, c.waiting, c.workers, c.dlq, c.queueWorkers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read of the queues, the
// workers and the dead letters.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ws, werr := c.w.Workers(ctx)
	if qs, err := c.b.Queues(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
	} else {
		consumers := map[string]int{}
		for _, w := range ws {
			for _, q := range w.Queues {
				consumers[q]++
			}
		}
		for _, q := range qs {
			if werr == nil {
				ch <- prometheus.MustNewConstMetric(c.queueWorkers, prometheus.GaugeValue, float64(consumers[q.Queue]), q.Queue)
			}
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Depth), q.Queue)
			ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(q.InFlight), q.Queue)
			ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(q.Redelivered), q.Queue)
			ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(q.Waiting), q.Queue)
		}
	}
	if err := werr; err != nil {
		ch <- prometheus.NewInvalidMetric(c.workers, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(len(ws)))
	}
	if dead, err := c.b.DLQCounts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.dlq, err)
	} else {
		for q, n := range dead {
			ch <- prometheus.MustNewConstMetric(c.dlq, prometheus.GaugeValue, float64(n), q)
		}
	}
}
