package inspect

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector is the prometheus.Collector of Inspector.Collector.
type collector struct {
	in      *Inspector
	timeout time.Duration

	depth, inFlight, redelivered, waiting, workers, dlq *prometheus.Desc
	queueWorkers                                        *prometheus.Desc
}

// scrapeTimeout bounds the reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Collector returns a prometheus.Collector that reads the server on every
// scrape and exports what it holds, whichever process runs the tasks:
//
//	strand_queue_depth{queue}        tasks waiting, not yet delivered to a worker
//	strand_queue_in_flight{queue}    tasks delivered, not yet acknowledged
//	strand_queue_redelivered{queue}  in-flight tasks delivered more than once
//	strand_queue_waiting{queue}      pull requests of workers waiting for tasks
//	strand_queue_workers{queue}      live workers that consume the queue
//	strand_workers                   live workers (heartbeat records)
//	strand_dlq_tasks{queue}          dead tasks in the dead-letter stream
//
// A read that fails is reported as a scrape error of its series. Register
// it with a prometheus.Registerer.
func (in *Inspector) Collector() prometheus.Collector {
	q := []string{"queue"}
	return &collector{
		in: in, timeout: scrapeTimeout,
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
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.inFlight, c.redelivered, c.waiting, c.workers, c.dlq, c.queueWorkers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read of the queues, the
// workers and the dead letters.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b := c.in.b
	ws, werr := c.in.Workers(ctx)
	if qs, err := b.Queues(ctx); err != nil {
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
	if werr != nil {
		ch <- prometheus.NewInvalidMetric(c.workers, werr)
	} else {
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(len(ws)))
	}
	if dead, err := b.DLQCounts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.dlq, err)
	} else {
		for q, n := range dead {
			ch <- prometheus.MustNewConstMetric(c.dlq, prometheus.GaugeValue, float64(n), q)
		}
	}
}
