package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/admin"
)

func newPurgeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "purge ID",
		Short: "Remove a finished task's records now",
		Long: `Remove a finished task's records (outcome or cancellation, state and
streamed items) now instead of when their TTLs end; the id is free again at
once. A task that has not finished, or was cancelled and still waits in its
queue to be skipped, is refused (cancel it first). Exit 1 if refused or unknown.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := a.openTask(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.in.Act(cmd.Context(), admin.Delete, inspect.Task{ID: h.ID()})
			if err == nil {
				err = res[0].Err
			}
			switch {
			case errors.Is(err, strand.ErrNotFound):
				return notFound(h.ID())
			case errors.Is(err, inspect.ErrWrongState):
				return &exitError{code: exitFailed, err: fmt.Errorf("purge %s: not finished (cancel it first)", h.ID())}
			case err != nil:
				return err
			}
			fmt.Fprintf(a.stdout, "purged %s\n", h.ID())
			return nil
		},
	}
}
