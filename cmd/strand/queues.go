package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/broker"
)

// queueJSON is one queue in `strand queues --json`; the fields are those of
// the gateway's GET /v1/queues, plus the dead letters and the last activity.
type queueJSON struct {
	Queue       string     `json:"queue"`
	Consumer    string     `json:"consumer"`
	Depth       uint64     `json:"depth"`
	InFlight    int        `json:"in_flight"`
	Redelivered int        `json:"redelivered"`
	Waiting     int        `json:"waiting"`
	Dead        uint64     `json:"dead"`
	Workers     int        `json:"workers"` // live workers that consume it
	LastActive  *time.Time `json:"last_active,omitempty"`
	Warning     string     `json:"warning,omitempty"` // no worker consumes it
}

// queueRow is one queue as `strand queues` prints it.
type queueRow struct {
	broker.QueueInfo
	dead    uint64
	workers int
}

// warning is what is wrong with the queue: tasks and no worker.
func (q queueRow) warning() string {
	if q.workers == 0 && (q.Depth > 0 || q.InFlight > 0 || q.Consumer == "") {
		return "no worker consumes this queue: its tasks wait"
	}
	return ""
}

// queueRows lists every queue with tasks, queued or dead, with or without
// a consumer, and counts each one's live workers.
func queueRows(ctx context.Context, c *client) ([]queueRow, error) {
	qs, err := c.b.Queues(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := c.b.DLQCounts(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := c.w.Workers(ctx)
	if err != nil {
		return nil, err
	}
	workers := map[string]int{}
	for _, w := range ws {
		for _, q := range w.Queues {
			workers[q]++
		}
	}
	var rows []queueRow
	for _, q := range qs {
		rows = append(rows, queueRow{QueueInfo: q, dead: dead[q.Queue], workers: workers[q.Queue]})
		delete(dead, q.Queue)
	}
	for q, n := range dead {
		rows = append(rows, queueRow{QueueInfo: broker.QueueInfo{Queue: q}, dead: n, workers: workers[q]})
	}
	slices.SortFunc(rows, func(a, b queueRow) int { return strings.Compare(a.Queue, b.Queue) })
	return rows, nil
}

func newQueuesCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queues [--json]",
		Short: "List the queues: depth, in-flight, redelivered and dead tasks",
		Long: `List the queues from their durable consumers: tasks waiting (depth), tasks
running or delivered and not yet acknowledged (in-flight), in-flight tasks
delivered more than once (redelivered), workers' pull requests waiting for
tasks, dead tasks in the dead-letter stream, the live workers that consume
it, and when the queue last delivered a task or had one acknowledged. Every
queue with tasks is listed, also one that no worker has consumed yet; a
queue with tasks and no live worker is marked "no worker".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := queueRows(ctx, c)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]queueJSON, 0, len(rows))
				for _, q := range rows {
					j := queueJSON{
						Queue: q.Queue, Consumer: q.Consumer, Depth: q.Depth, InFlight: q.InFlight,
						Redelivered: q.Redelivered, Waiting: q.Waiting, Dead: q.dead, Workers: q.workers,
						Warning: q.warning(),
					}
					if !q.LastActive.IsZero() {
						j.LastActive = &q.LastActive
					}
					out = append(out, j)
				}
				return writeJSON(a.stdout, listOrEmpty(out))
			}
			printQueues(a.stdout, rows, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the queues")
	return cmd
}

// printQueues prints one aligned line per queue under a header, with a
// warning after the queues that have tasks and no worker.
func printQueues(out io.Writer, rows []queueRow, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tDEPTH\tIN-FLIGHT\tREDELIVERED\tWAITING\tDEAD\tWORKERS\tLAST ACTIVE")
	for _, q := range rows {
		last := "never"
		if !q.LastActive.IsZero() {
			last = fmt.Sprintf("%v ago", max(now.Sub(q.LastActive).Round(100*time.Millisecond), 0))
		}
		if w := q.warning(); w != "" {
			last += "  ⚠ " + w
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Queue, q.Depth, q.InFlight, q.Redelivered, q.Waiting, q.dead, q.workers, last)
	}
	_ = tw.Flush()
}
