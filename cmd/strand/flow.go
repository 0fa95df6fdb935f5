package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/flowdoc"
)

func newFlowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flow",
		Short: "Run, inspect and cancel workflows (chains, chords, DAGs)",
		Long: `Workflows: steps that run after each other and receive their results,
created all at once and carried on by the workers (docs/protocol.md,
"Workflows", gives the document format).`,
	}
	cmd.AddCommand(newFlowRunCmd(a), newFlowStatusCmd(a), newFlowCancelCmd(a))
	return cmd
}

func newFlowRunCmd(a *app) *cobra.Command {
	var (
		wait        bool
		waitTimeout time.Duration
		queue, id   string
	)
	cmd := &cobra.Command{
		Use:   "run [--wait] FILE",
		Short: "Submit a workflow from a JSON document (FILE, or - for stdin)",
		Long: `Submit a workflow described by a JSON document:

  {"steps": {"a": {"func": "add", "args": [1, 2]},
             "b": {"func": "add", "args": [10], "after": ["a"]}}}

Each step names its "func", and optionally "args", "kwargs", "after" (the
steps it runs after), "results" (how it receives their results: "args", the
default, one positional arg each before its own; "list", one arg holding
them all; "kwargs", by step name; "none"), "queue", "timeout",
"max_attempts", "result_ttl" and "meta". At the top: "steps" (required),
"id", "queue", "on_failure" ("cancel", the default, or "continue") and
"meta". A cycle, an unknown step in "after" or a bad name is refused.

Without --wait it prints the workflow's id. With --wait it prints the id on
stderr, waits for the end, and prints the final step's result as JSON (an
object by step name when several steps are final); a workflow that fails or
is cancelled prints which step on stderr and exits 1.`,
		Example: `  strand flow run chain.json --wait
  echo '{"steps": {"a": {"func": "add", "args": [1, 2]}}}' | strand flow run - --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(os.Stdin)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return usageErrorf("%v", err)
			}
			d, err := flowdoc.Parse(data)
			if err != nil {
				return usageErrorf("%s: %v", args[0], err)
			}
			if cmd.Flags().Changed("queue") {
				d.Queue = queue
			}
			if cmd.Flags().Changed("id") {
				d.ID = id
			}
			if waitTimeout < 0 {
				return usageErrorf("--wait-timeout %v: want 0 (no limit) or a positive duration", waitTimeout)
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			c, err := a.newClient(ctx) // the writer's STRAND_QUEUE, STRAND_RESULT_TTL, STRAND_TASK_TTL
			if err != nil {
				return err
			}
			defer c.Close()
			d.Encoding = "json" // the document's values are JSON: they go as they are
			h, err := flow.Submit(ctx, c.w, d)
			if errors.Is(err, codec.ErrBadFlow) {
				return usageErrorf("%s: %v", args[0], err)
			}
			if err != nil {
				return err
			}
			if !wait {
				fmt.Fprintln(a.stdout, h.ID())
				return nil
			}
			fmt.Fprintf(a.stderr, "flow %s\n", h.ID())
			wctx := ctx
			if waitTimeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, waitTimeout)
				defer cancel()
			}
			var res map[string]json.RawMessage
			err = h.Result(wctx, &res)
			var te *strand.TaskError
			switch {
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				fmt.Fprintf(a.stderr, "flow %s: not ended after %v\n", h.ID(), waitTimeout)
				return exitWith(exitNotReady)
			case errors.As(err, &te):
				return &exitError{code: exitFailed, err: err}
			case err != nil:
				return err
			}
			var out []byte
			if len(res) == 1 {
				for _, r := range res {
					out = r
				}
				if len(out) == 0 {
					out = []byte("null")
				}
			} else if out, err = json.Marshal(res); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, string(out))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&wait, "wait", false, "wait for the workflow to end and print the final result")
	fl.DurationVar(&waitTimeout, "wait-timeout", 0, "with --wait, give up after this long and exit 3 (default 0: wait forever)")
	fl.StringVar(&queue, "queue", "default", "the workflow's queue (overrides the document's; default the document's, else $STRAND_QUEUE, else default)")
	fl.StringVar(&id, "id", "", "the workflow's id, an idempotency key (overrides the document's)")
	return cmd
}

func newFlowStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Print a workflow's status and each step's, as JSON",
		Long: `Print a workflow's status and each step's as one JSON object:

  {"id", "queue", "status" (pending, running, completed, failed, cancelled),
   "failed_step", "error": {"kind", "message"}, "finished",
   "steps": [{"name", "task_id", "func", "queue", "after", "status"
              (waiting, pending, running, retrying, completed, failed, dead,
              cancelled), "attempt", "worker", "result", "error"}]}

Exits 1 if no workflow has that id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			h, err := flow.Open(ctx, c.w, args[0])
			if err != nil {
				return flowErr(args[0], err)
			}
			st, err := flow.StatusOf(ctx, h)
			if err != nil {
				return flowErr(args[0], err)
			}
			out, err := json.MarshalIndent(flowdoc.Status(st), "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, string(out))
			return nil
		},
	}
}

func newFlowCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a workflow: running steps stop, pending ones never start",
		Long: `Cancel a workflow: its end is recorded as cancelled, its running steps are
stopped and the steps not started yet never start. Prints "cancelled ID". A
workflow that has ended cannot be cancelled (exit 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			h, err := flow.Open(ctx, c.w, args[0])
			if err != nil {
				return flowErr(args[0], err)
			}
			if err := h.Cancel(ctx); err != nil {
				if errors.Is(err, strand.ErrFinished) {
					if st, serr := h.Status(ctx); serr == nil {
						return fmt.Errorf("cancel flow %s: already ended (%s)", h.ID(), st)
					}
				}
				return flowErr(args[0], err)
			}
			fmt.Fprintf(a.stdout, "cancelled %s\n", h.ID())
			return nil
		},
	}
}

// flowErr says plainly that a workflow is unknown.
func flowErr(id string, err error) error {
	if errors.Is(err, strand.ErrNotFound) {
		return fmt.Errorf("flow %s: not found", id)
	}
	return err
}
