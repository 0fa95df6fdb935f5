package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strand-run/strand/internal/adminjson"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/inspect"
)

func newWorkersCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "workers [--json]",
		Short: "List the live workers",
		Long: `List the live workers from their heartbeat records: id, host, pid, queues,
functions, tasks running now, pool size, and the age of the last heartbeat.
A worker that stopped gracefully is gone at once; one that died stays listed
for up to three heartbeats (15s by default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			ws, err := c.in.Workers(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]adminjson.Worker, 0, len(ws))
				for _, w := range ws {
					out = append(out, adminjson.WorkerOf(w))
				}
				return writeJSON(a.stdout, out)
			}
			printWorkers(a.stdout, ws, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the workers' records")
	return cmd
}

// printWorkers prints one aligned line per worker under a header.
func printWorkers(out io.Writer, ws []inspect.WorkerInfo, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPID\tQUEUES\tFUNCTIONS\tIN-FLIGHT\tCONCURRENCY\tLAST BEAT")
	for _, w := range ws {
		age := now.Sub(w.Beat).Round(100 * time.Millisecond)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%v ago\n", w.ID, w.Host, w.PID,
			strings.Join(w.Queues, ","), strings.Join(w.Functions, ","), w.InFlight, w.Concurrency, max(age, 0))
	}
	_ = tw.Flush()
}
