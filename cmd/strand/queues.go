package main

import (
	"fmt"
	"io"
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
	LastActive  *time.Time `json:"last_active,omitempty"`
}

func newQueuesCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queues [--json]",
		Short: "List the queues: depth, in-flight, redelivered and dead tasks",
		Long: `List the queues from their durable consumers: tasks waiting (depth), tasks
running or delivered and not yet acknowledged (in-flight), in-flight tasks
delivered more than once (redelivered), workers' pull requests waiting for
tasks, dead tasks in the dead-letter stream, and when the queue last
delivered a task or had one acknowledged. A queue is listed once a worker has
consumed it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			qs, err := c.b.Queues(ctx)
			if err != nil {
				return err
			}
			dead, err := c.b.DLQCounts(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]queueJSON, 0, len(qs))
				for _, q := range qs {
					j := queueJSON{
						Queue: q.Queue, Consumer: q.Consumer, Depth: q.Depth, InFlight: q.InFlight,
						Redelivered: q.Redelivered, Waiting: q.Waiting, Dead: dead[q.Queue],
					}
					if !q.LastActive.IsZero() {
						j.LastActive = &q.LastActive
					}
					out = append(out, j)
				}
				return writeJSON(a.stdout, listOrEmpty(out))
			}
			printQueues(a.stdout, qs, dead, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the queues")
	return cmd
}

// printQueues prints one aligned line per queue under a header.
func printQueues(out io.Writer, qs []broker.QueueInfo, dead map[string]uint64, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tDEPTH\tIN-FLIGHT\tREDELIVERED\tWAITING\tDEAD\tLAST ACTIVE")
	for _, q := range qs {
		last := "never"
		if !q.LastActive.IsZero() {
			last = fmt.Sprintf("%v ago", max(now.Sub(q.LastActive).Round(100*time.Millisecond), 0))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Queue, q.Depth, q.InFlight, q.Redelivered, q.Waiting, dead[q.Queue], last)
	}
	_ = tw.Flush()
}
