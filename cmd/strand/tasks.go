package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/admin"
	"github.com/strand-run/strand/internal/broker"
)

// taskFilterFlags are the flags that select tasks, shared by the tasks
// subcommands.
type taskFilterFlags struct {
	queue, status, fn, idPrefix, errText string
	meta                                 []string
}

func (ff *taskFilterFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&ff.queue, "queue", "", "only the tasks of this queue (default: every queue)")
	fl.StringVar(&ff.status, "status", "", "only tasks of this status: pending, running, retrying, completed, failed, dead, cancelled")
	fl.StringVar(&ff.fn, "func", "", "only the tasks of this function")
	fl.StringVar(&ff.idPrefix, "id", "", "only tasks whose id starts with this")
	fl.StringArrayVar(&ff.meta, "meta", nil, "only tasks with this meta field, KEY=VALUE (repeatable: all must match)")
	fl.StringVar(&ff.errText, "error", "", "only tasks whose error message contains this (any case)")
}

func (ff *taskFilterFlags) filter() (broker.TaskFilter, error) {
	f := broker.TaskFilter{
		Queue: ff.queue, Status: strand.Status(ff.status), Func: ff.fn, IDPrefix: ff.idPrefix, Error: ff.errText,
	}
	for _, kv := range ff.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return f, usageErrorf("--meta %q: want KEY=VALUE", kv)
		}
		if f.Meta == nil {
			f.Meta = map[string]string{}
		}
		f.Meta[k] = v
	}
	if err := f.Check(); err != nil {
		return f, usageErrorf("%v", err)
	}
	return f, nil
}

func newTasksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Browse, search and act in bulk on the tasks the server holds",
		Long: `Browse and search the tasks the server holds (queued, running, and finished
ones whose outcome is kept), newest first, read from JetStream; and act on
many at once: retry (resubmit) failed and dead tasks, cancel pending and
running ones, delete finished ones. A page reads at most --scan records
(default 100000): a filter that matches few of them ends the page early,
and "next:" gives the --cursor that goes on.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTasksListCmd(a),
		newTasksActCmd(a, admin.Retry, "Resubmit failed and dead tasks as new tasks (same call, new id, meta resubmit_of)"),
		newTasksActCmd(a, admin.Cancel, "Cancel pending, running and retrying tasks"),
		newTasksActCmd(a, admin.Delete, "Delete finished tasks' records now (completed, failed, dead, cancelled)"))
	return cmd
}

// taskJSON is one task of `strand tasks list --json`, as GET /v1/tasks has it.
type taskJSON struct {
	ID          string            `json:"id"`
	Queue       string            `json:"queue"`
	Func        string            `json:"func,omitempty"`
	Status      strand.Status     `json:"status"`
	Attempt     int               `json:"attempt,omitempty"`
	Worker      string            `json:"worker,omitempty"`
	Created     *time.Time        `json:"created,omitempty"`
	Finished    *time.Time        `json:"finished,omitempty"`
	NextAttempt *time.Time        `json:"next_attempt,omitempty"`
	Error       *errorJSON        `json:"error,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
}

type errorJSON struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newTasksListCmd(a *app) *cobra.Command {
	var (
		ff           taskFilterFlags
		limit, scan  int
		cursor       string
		asJSON, more bool
	)
	cmd := &cobra.Command{
		Use:   "list [--queue Q] [--status S] [--func F] [--id PREFIX] [--meta K=V] [--error TEXT] [--limit N] [--cursor C] [--json]",
		Short: "List the tasks the server holds, newest first, by queue, status, function, id, meta or error text",
		Example: `  strand tasks list --status failed
  strand tasks list --queue emails --status pending --limit 20
  strand tasks list --meta tenant=acme --error timeout --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if limit < 0 || limit > broker.MaxPageSize || scan < 0 || scan > broker.MaxScan {
				return usageErrorf("--limit 0 to %d, --scan 0 to %d", broker.MaxPageSize, broker.MaxScan)
			}
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			p, err := c.in.Tasks(cmd.Context(), inspect.Filter{Queue: f.Queue, Status: f.Status, Func: f.Func, IDPrefix: f.IDPrefix,
				Meta: f.Meta, Error: f.Error, Cursor: cursor, Limit: limit, Scan: scan})
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]taskJSON, 0, len(p.Tasks))
				for _, t := range p.Tasks {
					j := taskJSON{ID: t.ID, Queue: t.Queue, Func: t.Func, Status: t.Status, Attempt: t.Attempt, Worker: t.Worker,
						Created: timeOrNil(t.Created), Finished: timeOrNil(t.Finished), NextAttempt: timeOrNil(t.NextAttempt), Meta: t.Meta}
					if t.Kind != "" || t.Error != "" {
						j.Error = &errorJSON{Kind: t.Kind, Message: t.Error}
					}
					out = append(out, j)
				}
				if more {
					return writeJSON(a.stdout, map[string]any{"tasks": out, "next": p.Next, "scanned": p.Scanned, "partial": p.Partial})
				}
				return writeJSON(a.stdout, out)
			}
			printTasks(a.stdout, p.Tasks, time.Now())
			switch {
			case p.Partial:
				fmt.Fprintf(a.stderr, "read %d records (the --scan bound) and found %d; more may match: --cursor %s\n", p.Scanned, len(p.Tasks), p.Next)
			case p.Next != "":
				fmt.Fprintf(a.stderr, "next: --cursor %s\n", p.Next)
			}
			return nil
		},
	}
	ff.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&limit, "limit", broker.DefaultPageSize, fmt.Sprintf("tasks per page (at most %d)", broker.MaxPageSize))
	fl.StringVar(&cursor, "cursor", "", "go on from where a previous page ended (its \"next\")")
	fl.IntVar(&scan, "scan", broker.DefaultScan, fmt.Sprintf("records one page may read (at most %d)", broker.MaxScan))
	fl.BoolVar(&asJSON, "json", false, "print a JSON array of the tasks")
	fl.BoolVar(&more, "page", false, "with --json, print the page: {tasks, next, scanned, partial}")
	return cmd
}

// printTasks prints one aligned line per task under a header.
func printTasks(out io.Writer, ts []inspect.Task, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUE\tFUNC\tSTATUS\tATTEMPT\tWHEN\tERROR")
	for _, t := range ts {
		when := ""
		if !t.At.IsZero() {
			when = fmt.Sprintf("%v ago", max(now.Sub(t.At).Round(time.Second), 0))
		}
		msg := ""
		if t.Kind != "" || t.Error != "" {
			msg = t.Kind + ": " + t.Error
			if len(msg) > 80 {
				msg = msg[:77] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Queue, t.Func, t.Status, t.Attempt, when, strings.ReplaceAll(msg, "\n", " "))
	}
	_ = tw.Flush()
}

func newTasksActCmd(a *app, action, short string) *cobra.Command {
	var (
		ff     taskFilterFlags
		yes    bool
		max    int
		asJSON bool
	)
	verb := action
	cmd := &cobra.Command{
		Use:   verb + " [--queue Q] [--status S] [--func F] [--id PREFIX] [--meta K=V] [--error TEXT] [ID...] --yes",
		Short: short,
		Long: short + `, named by id or chosen by the filter flags (every matching task the
action applies to, newest first, up to --max). Without --yes it lists what
it would do and does nothing (exit 1); with --yes it does it and prints one
line per task: "ID ok [NEW-ID]" or "ID error: ...".`,
		Example: "  strand tasks " + verb + " --status failed --func send_email          # what it would do\n" +
			"  strand tasks " + verb + " --status failed --func send_email --yes",
		RunE: func(cmd *cobra.Command, ids []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			filtered := ff.queue != "" || ff.status != "" || ff.fn != "" || ff.idPrefix != "" || len(ff.meta) > 0 || ff.errText != ""
			if len(ids) > 0 && filtered {
				return usageErrorf("give task ids or filter flags, not both")
			}
			if len(ids) == 0 && !filtered {
				return usageErrorf("give task ids, or filter flags such as --status (to act on every task, say --status)")
			}
			ctx := cmd.Context()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			var targets []inspect.Task
			more := false
			if len(ids) > 0 {
				for _, id := range ids {
					targets = append(targets, inspect.Task{ID: id})
				}
			} else {
				var sel []broker.TaskSummary
				if sel, more, err = admin.Select(ctx, c.b, action, f, max); err != nil {
					return err
				}
				for _, t := range sel {
					targets = append(targets, inspect.Task{Queue: t.Queue, ID: t.ID})
				}
			}
			if !yes {
				for _, t := range targets {
					fmt.Fprintf(a.stdout, "%s\t%s\n", t.ID, t.Queue)
				}
				extra := ""
				if more {
					extra = fmt.Sprintf(" (the first %d; more match)", len(targets))
				}
				fmt.Fprintf(a.stderr, "would %s %d tasks%s; run again with --yes to do it\n", verb, len(targets), extra)
				return exitWith(exitFailed)
			}
			results, err := c.in.Act(ctx, action, targets...)
			if err != nil {
				return err
			}
			failed := 0
			if asJSON {
				type resJSON struct {
					ID    string `json:"id"`
					Queue string `json:"queue,omitempty"`
					OK    bool   `json:"ok"`
					NewID string `json:"new_id,omitempty"`
					Error string `json:"error,omitempty"`
				}
				out := make([]resJSON, 0, len(results))
				for _, r := range results {
					j := resJSON{ID: r.ID, Queue: r.Queue, OK: r.Err == nil, NewID: r.NewID}
					if r.Err != nil {
						j.Error = r.Err.Error()
						failed++
					}
					out = append(out, j)
				}
				if err := writeJSON(a.stdout, out); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					switch {
					case r.Err != nil:
						failed++
						fmt.Fprintf(a.stdout, "%s error: %v\n", r.ID, r.Err)
					case r.NewID != "":
						fmt.Fprintf(a.stdout, "%s ok %s\n", r.ID, r.NewID)
					default:
						fmt.Fprintf(a.stdout, "%s ok\n", r.ID)
					}
				}
			}
			fmt.Fprintf(a.stderr, "%s: %d done, %d failed\n", verb, len(results)-failed, failed)
			if failed > 0 {
				return exitWith(exitFailed)
			}
			return nil
		},
	}
	ff.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&yes, "yes", false, "do it (without it, only list what would be done)")
	fl.IntVar(&max, "max", admin.MaxSelect, "act on at most this many tasks that the filter selects")
	fl.BoolVar(&asJSON, "json", false, "print a JSON array of the results")
	return cmd
}
