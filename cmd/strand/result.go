package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
)

func newResultCmd(a *app) *cobra.Command {
	var (
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "result [--wait] [--wait-timeout D] ID",
		Short: "Print a task's result as JSON",
		Long: `Print a completed task's result as JSON on stdout. A task that failed or was
cancelled prints its error on stderr and exits 1. A task without an outcome yet
prints its status on stderr and exits 3, unless --wait waits for it.`,
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
			info, err := h.Info(ctx)
			if err != nil {
				return err
			}
			switch {
			case info.Status == strand.StatusUnknown:
				return notFound(info.ID)
			case !info.Status.Terminal() && !wait:
				fmt.Fprintf(a.stderr, "task %s is not ready: %s\n", info.ID, info.Status)
				return exitWith(exitNotReady)
			}
			return a.await(ctx, h, waitTimeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the task to end")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 0, "with --wait, give up after this long and exit 3 (default 0: wait forever)")
	return cmd
}
