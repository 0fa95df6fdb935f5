package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/internal/codec"
)

// newQueueCmd is `strand queue pause|resume|paused Q`: flow control of one queue.
func newQueueCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue pause|resume|paused QUEUE",
		Short: "Pause or resume a queue across every worker",
		Long: `Pause or resume a queue for every worker at once. A paused queue accepts
tasks and starts none; running tasks finish. The pause is a record on the
server: it survives restarts of workers and of the server, until resumed.`,
	}
	set := func(verb, short string, do func(c *client, cmd *cobra.Command, q string) error) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " QUEUE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := codec.ValidQueue(args[0]); err != nil {
					return usageErrorf("%v", err)
				}
				c, err := a.newClient(cmd.Context())
				if err != nil {
					return err
				}
				defer c.Close()
				return do(c, cmd, args[0])
			},
		}
	}
	cmd.AddCommand(
		set("pause", "Pause a queue: its workers start none of its tasks", func(c *client, cmd *cobra.Command, q string) error {
			if err := c.in.Pause(cmd.Context(), q); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "paused %s\n", q)
			return nil
		}),
		set("resume", "Resume a paused queue", func(c *client, cmd *cobra.Command, q string) error {
			if err := c.in.Resume(cmd.Context(), q); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "resumed %s\n", q)
			return nil
		}),
		set("paused", "Say whether a queue is paused", func(c *client, cmd *cobra.Command, q string) error {
			qs, err := c.in.Queues(cmd.Context(), q)
			if err != nil {
				return err
			}
			if qs[0].Paused {
				fmt.Fprintf(a.stdout, "%s paused since %s\n", q, qs[0].PausedSince.Format("2006-01-02 15:04:05 MST"))
			} else {
				fmt.Fprintf(a.stdout, "%s running\n", q)
			}
			return nil
		}),
	)
	return cmd
}
