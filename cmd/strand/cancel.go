package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
)

func newCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a task",
		Long: `Cancel a task: a pending one will never run, a running one has its context
cancelled on the worker that runs it. Prints "cancelled ID". A task that
already ended cannot be cancelled (exit 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := a.openTask(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			err = h.Cancel(cmd.Context())
			switch {
			case errors.Is(err, strand.ErrFinished):
				st, serr := h.Status(cmd.Context())
				if serr != nil {
					return fmt.Errorf("cancel %s: already finished", h.ID())
				}
				return fmt.Errorf("cancel %s: already finished (%s)", h.ID(), st)
			case errors.Is(err, strand.ErrNotFound):
				return notFound(h.ID())
			case err != nil:
				return err
			}
			fmt.Fprintf(a.stdout, "cancelled %s\n", h.ID())
			return nil
		},
	}
}
