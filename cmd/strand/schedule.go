package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/writer"
)

func newScheduleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule add|list|rm|pause|resume",
		Short: "Named cron and interval schedules, fired by the NATS server",
		Long: `Named schedules: the NATS server itself fires each one (ADR-51 message
schedules), with no strand process needed but a worker of its queue to run
the tasks. Each firing becomes one task of id NAME-<unix second>, so that a
firing seen twice (a restart, a failover) runs once. Firings missed while
the server is down are not made up: it fires once when it is back, then on
the schedule again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newScheduleAddCmd(a), newScheduleListCmd(a),
		newScheduleNameCmd(a, "rm", "Remove a schedule (tasks it queued already stay)", func(c *client, cmd *cobra.Command, name string) (string, error) {
			return "removed", c.w.DeleteSchedule(cmd.Context(), name)
		}),
		newScheduleNameCmd(a, "pause", "Stop a schedule's firings until resume", func(c *client, cmd *cobra.Command, name string) (string, error) {
			return "paused", c.w.PauseSchedule(cmd.Context(), name)
		}),
		newScheduleNameCmd(a, "resume", "Restart a paused schedule's firings, from now on", func(c *client, cmd *cobra.Command, name string) (string, error) {
			return "resumed", c.w.ResumeSchedule(cmd.Context(), name)
		}))
	return cmd
}

func newScheduleAddCmd(a *app) *cobra.Command {
	var (
		cronSpec, tz, queue, kwargs string
		every, timeout              time.Duration
		maxAttempts                 int
		asJSON                      bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME --cron SPEC [--tz ZONE] | --every DURATION [--queue Q] FUNC [ARG...]",
		Short: "Create or replace a named schedule",
		Long: `Create the schedule NAME, or replace the schedule of that name: it calls
FUNC with ARGs (each one JSON value) on a worker of its queue, as --cron
SPEC says (5 fields: minute hour day-of-month month day-of-week; 6 fields:
second first; or @hourly, @daily, @weekly, @monthly, @yearly), in --tz ZONE
(an IANA zone, default UTC), or every --every DURATION (at least 1s). NAME
is one subject token: 1-100 of A-Z a-z 0-9 _ = -. Flags go before FUNC.`,
		Example: `  strand schedule add tick --every 2s add 1 1
  strand schedule add report --cron '0 9 * * mon-fri' --tz Europe/Paris echo '"report"'`,
		Args:               cobra.MinimumNArgs(1),
		DisableFlagParsing: false,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags may follow NAME: parse what comes after it again, up
			// to FUNC, so that FUNC's args may be negative numbers.
			name, fl := args[0], cmd.Flags()
			if err := fl.Parse(args[1:]); err != nil {
				return usageErrorf("%v", err)
			}
			rest := fl.Args()
			if len(rest) == 0 {
				return usageErrorf("schedule add %s: FUNC is missing", name)
			}
			var spec string
			switch {
			case fl.Changed("cron") == fl.Changed("every"):
				return usageErrorf("schedule add %s: give one of --cron SPEC and --every DURATION", name)
			case fl.Changed("cron"):
				spec = cronSpec
			default:
				if fl.Changed("tz") {
					return usageErrorf("schedule add %s: --tz is for --cron", name)
				}
				spec = "@every " + every.String()
			}
			taskArgs, err := parseArgs(rest[1:])
			if err != nil {
				return err
			}
			opts := []strand.Option{}
			if fl.Changed("tz") {
				spec = "CRON_TZ=" + tz + " " + spec
			}
			if fl.Changed("queue") {
				if err := codec.ValidQueue(queue); err != nil {
					return usageErrorf("--queue: %v", err)
				}
				opts = append(opts, strand.Queue(queue))
			}
			if fl.Changed("kwargs") {
				kw, err := parseKwargs(kwargs)
				if err != nil {
					return err
				}
				opts = append(opts, strand.Kwargs(kw))
			}
			if fl.Changed("timeout") {
				opts = append(opts, strand.Timeout(timeout))
			}
			if fl.Changed("max-attempts") {
				opts = append(opts, strand.MaxAttempts(maxAttempts))
			}
			if asJSON {
				opts = append(opts, strand.Encoding("json"))
			}
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.w.PutSchedule(cmd.Context(), name, spec, rest[0], taskArgs, opts...); err != nil {
				if errors.Is(err, strand.ErrBadOption) {
					return usageErrorf("%v", err)
				}
				return err
			}
			ss, err := c.w.Schedules(cmd.Context(), name)
			if err != nil {
				return err
			}
			s := ss[0]
			fmt.Fprintf(a.stdout, "schedule %s: %s, next run %s\n", s.Name, describeSpec(s), when(s.NextRun))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVar(&cronSpec, "cron", "", "cron spec: 5 fields (minute first) or 6 (second first), or @daily, @hourly, …")
	fl.DurationVar(&every, "every", 0, "fire every DURATION (at least 1s)")
	fl.StringVar(&tz, "tz", "", "time zone of --cron, an IANA name such as Europe/Paris (default UTC)")
	fl.StringVar(&queue, "queue", "default", "queue the schedule's tasks go to [$STRAND_QUEUE]")
	fl.StringVar(&kwargs, "kwargs", "", `keyword arguments of each task, a JSON object`)
	fl.DurationVar(&timeout, "timeout", 0, "how long each task's handler may run (default: no limit)")
	fl.IntVar(&maxAttempts, "max-attempts", 0, "how many times each task may run (default: the worker's)")
	fl.BoolVar(&asJSON, "json", false, "encode the tasks (and so their results) as JSON instead of msgpack")
	return cmd
}

// scheduleJSON is one schedule in `strand schedule list --json`, and in
// the gateway's GET /v1/schedules.
type scheduleJSON struct {
	Name     string          `json:"name"`
	Spec     string          `json:"spec"`
	TZ       string          `json:"tz,omitempty"`
	Queue    string          `json:"queue"`
	Func     string          `json:"func"`
	Args     json.RawMessage `json:"args,omitempty"`
	Paused   bool            `json:"paused"`
	Created  *time.Time      `json:"created,omitempty"`
	NextRun  *time.Time      `json:"next_run,omitempty"`
	LastRun  *time.Time      `json:"last_run,omitempty"`
	LastTask string          `json:"last_task,omitempty"`
}

func toScheduleJSON(s writer.ScheduleInfo) scheduleJSON {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	j := scheduleJSON{
		Name: s.Name, Spec: s.Spec, TZ: s.TZ, Queue: s.Queue, Func: s.Func, Paused: s.Paused,
		Created: at(s.Created), NextRun: at(s.NextRun), LastRun: at(s.LastRun), LastTask: s.LastTask,
	}
	if len(s.Args) > 0 {
		args := make([]json.RawMessage, 0, len(s.Args))
		for _, a := range s.Args {
			raw, err := codec.ValueJSON(a)
			if err != nil {
				raw = json.RawMessage("null") // an arg that cannot be read shows as null
			}
			args = append(args, raw)
		}
		j.Args, _ = json.Marshal(args)
	}
	return j
}

func newScheduleListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the schedules: name, spec, next run, last run and its task, paused",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			ss, err := c.w.Schedules(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]scheduleJSON, 0, len(ss))
				for _, s := range ss {
					out = append(out, toScheduleJSON(s))
				}
				return writeJSON(a.stdout, map[string]any{"schedules": out})
			}
			printSchedules(a.stdout, ss)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

func printSchedules(out io.Writer, ss []writer.ScheduleInfo) {
	if len(ss) == 0 {
		fmt.Fprintln(out, "no schedules")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSPEC\tQUEUE\tFUNC\tNEXT RUN\tLAST RUN\tLAST TASK\tPAUSED")
	for _, s := range ss {
		next := when(s.NextRun)
		if s.Paused {
			next = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", s.Name, describeSpec(s), s.Queue, s.Func,
			next, orDash(when(s.LastRun)), orDash(s.LastTask), s.Paused)
	}
	_ = tw.Flush()
}

func describeSpec(s writer.ScheduleInfo) string {
	if s.TZ != "" {
		return s.Spec + " (" + s.TZ + ")"
	}
	return s.Spec
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func newScheduleNameCmd(a *app, verb, short string, do func(*client, *cobra.Command, string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			done, err := do(c, cmd, args[0])
			switch {
			case errors.Is(err, strand.ErrNotFound):
				return &exitError{code: exitFailed, err: fmt.Errorf("schedule %s: not found", args[0])}
			case errors.Is(err, strand.ErrBadOption):
				return usageErrorf("%v", err)
			case err != nil:
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s\n", done, args[0])
			return nil
		},
	}
}
