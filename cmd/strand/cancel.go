package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
)

func newCancelCmd(a *app) *cobra.Command {
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "cancel [--wait-timeout D] ID",
		Short: "Cancel a task and wait for its final status",
		Long: `Cancel a task: a pending one will never run, a running one has its context
cancelled on the worker that runs it. Waits up to --wait-timeout for the task's
terminal status and prints it with the id: "cancelled ID". A task that already
ended, or ended otherwise before the cancel took hold, cannot be cancelled
(exit 1); one still not ended after --wait-timeout exits 3.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if waitTimeout < 0 {
				return usageErrorf("--wait-timeout %v: want 0 (no limit) or a positive duration", waitTimeout)
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			cmd.SetContext(ctx)
			c, h, err := a.openTask(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			err = h.Cancel(ctx)
			switch {
			case errors.Is(err, strand.ErrFinished):
				st, serr := h.Status(ctx)
				if serr != nil {
					return fmt.Errorf("cancel %s: already finished", h.ID())
				}
				return fmt.Errorf("cancel %s: already finished (%s)", h.ID(), st)
			case errors.Is(err, strand.ErrNotFound):
				return notFound(h.ID())
			case err != nil:
				return err
			}
			o, err := a.waitOutcome(ctx, h, waitTimeout, "cancel requested, not ended yet")
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s\n", o.Status, h.ID())
			if o.Status != strand.StatusCancelled {
				return &exitError{code: exitFailed, err: fmt.Errorf("cancel %s: it ended %s first", h.ID(), o.Status)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 10*time.Second, "how long to wait for the task's terminal status (0: no limit)")
	return cmd
}
