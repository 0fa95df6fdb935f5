package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/strand-run/strand/internal/adminjson"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/inspect"
)

func newDLQCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, replay or purge dead letters: tasks whose every attempt failed",
		Long: `List, replay or purge dead letters. A task that fails its last attempt
(with max attempts above 1) ends dead, and a copy of it with its last error is
kept in the dead-letter stream (30 days unless STRAND_DLQ_MAX_AGE says otherwise).
A replay submits it again as a fresh task with a new id and meta
replay_of=<old id>, and removes the dead letter.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDLQListCmd(a), newDLQReplayCmd(a), newDLQPurgeCmd(a))
	return cmd
}

func newDLQListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			dead, err := c.in.DeadLetters(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]adminjson.Letter, 0, len(dead))
				for _, d := range dead {
					out = append(out, adminjson.From(d))
				}
				return writeJSON(a.stdout, out)
			}
			printDead(a.stdout, dead)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the dead letters")
	return cmd
}

// printDead prints one aligned line per dead letter under a header.
func printDead(out io.Writer, dead []inspect.Task) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNC\tQUEUE\tATTEMPTS\tFAILED\tKIND\tERROR")
	for _, d := range dead {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Func, d.Queue, d.Attempt,
			d.Finished.Format(time.RFC3339), d.Kind, d.Error)
	}
	_ = tw.Flush()
}

func newDLQReplayCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "replay ID | --all",
		Short: "Submit dead tasks again as fresh tasks, and remove their dead letters",
		Long: `Submit a dead task again (or every one, with --all) as a fresh task: the same
call under a new id, with meta replay_of=<old id>. Prints "OLD NEW" per task.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) || len(args) > 1 {
				return usageErrorf("give one task id or --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if !all {
				res, err := c.in.Act(ctx, "replay", inspect.Task{ID: args[0]})
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s %s\n", args[0], res[0].NewID)
				return nil
			}
			dead, err := c.in.DeadLetters(ctx)
			if err != nil {
				return err
			}
			res, err := c.in.Act(ctx, "replay", dead...)
			n := 0
			var errs []error
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, r.Err)
					continue
				}
				n++
				fmt.Fprintf(a.stdout, "%s %s\n", r.ID, r.NewID)
			}
			fmt.Fprintf(a.stderr, "replayed %d dead tasks\n", n)
			return errors.Join(append(errs, err)...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "replay every dead letter")
	return cmd
}

func newDLQPurgeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "purge",
		Short: "Remove every dead letter",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			n, err := c.in.PurgeDead(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "purged %d dead letters\n", n)
			return nil
		},
	}
}
