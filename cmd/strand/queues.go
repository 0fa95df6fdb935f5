package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/inspect"
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
	inspect.QueueInfo
	consumer string // its durable consumer's name; "" when none
}

// warning is what is wrong with the queue: tasks and no worker.
func (q queueRow) warning() string {
	if q.Idle {
		return "no worker consumes this queue: its tasks wait"
	}
	return ""
}

// queueRows lists every queue with tasks, queued or dead, with or without
// a consumer, and counts each one's live workers (inspect.Inspector.Queues).
func queueRows(ctx context.Context, c *client) ([]queueRow, error) {
	qs, err := c.in.Queues(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]queueRow, 0, len(qs))
	for _, q := range qs {
		r := queueRow{QueueInfo: q}
		if q.Consumed {
			r.consumer = c.b.Names().Consumer(q.Queue)
		}
		rows = append(rows, r)
	}
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
						Queue: q.Queue, Consumer: q.consumer, Depth: q.Depth, InFlight: q.InFlight,
						Redelivered: q.Redelivered, Waiting: q.Waiting, Dead: q.Dead, Workers: q.Workers,
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
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Queue, q.Depth, q.InFlight, q.Redelivered, q.Waiting, q.Dead, q.Workers, last)
	}
	_ = tw.Flush()
}
