package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// openTask connects and returns a handle to task id.
func (a *app) openTask(cmd *cobra.Command, id string) (*client, strand.Handle, error) {
	if err := codec.ValidID(id); err != nil {
		return nil, nil, usageErrorf("task id: %v", err)
	}
	c, err := a.newClient(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	h, err := c.w.Open(id)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, h, nil
}

// notFound is the error for an id that no record describes.
func notFound(id string) error {
	return &exitError{code: exitFailed, err: fmt.Errorf("task %s not found: never submitted, or its records expired", id)}
}

func newStatusCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json] ID",
		Short: "Print a task's status and metadata",
		Long: `Print a task's status (scheduled, pending, running, retrying, completed, failed,
cancelled, dead) and metadata: function, queue, attempt, worker, times, error.
An id that no record describes is "unknown" and exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := a.openTask(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			info, err := h.Info(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if err := printInfoJSON(a.stdout, info); err != nil {
					return err
				}
			} else {
				printInfo(a.stdout, info)
			}
			if info.Status == strand.StatusUnknown {
				return notFound(info.ID)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

const timeLayout = "2006-01-02 15:04:05.000 MST"

// printInfo prints info as aligned "field value" lines, leaving out what is unknown.
func printInfo(out io.Writer, info *strand.Info) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format(timeLayout)
	}
	line("id", info.ID)
	line("status", string(info.Status))
	line("waiting", waitingText(info.Waiting))
	line("priority", info.Priority)
	line("func", info.Func)
	line("queue", info.Queue)
	if info.Attempt > 0 {
		line("attempt", fmt.Sprint(info.Attempt))
	}
	line("worker", info.Worker)
	line("created", when(info.Created))
	line("run at", when(info.RunAt))
	line("started", when(info.Started))
	finished := when(info.Finished)
	if finished != "" && !info.Started.IsZero() {
		finished += fmt.Sprintf(" (ran %v)", info.Finished.Sub(info.Started))
	}
	line("finished", finished)
	if p := info.Progress; p != nil {
		s := fmt.Sprint(p.Done)
		if p.Total > 0 {
			s += fmt.Sprintf("/%d", p.Total)
		}
		if p.Note != "" {
			s += " " + p.Note
		}
		line("progress", s)
	}
	if info.Items > 0 {
		line("items", fmt.Sprint(info.Items))
	}
	if e := errorInfo(info.Err); e != nil {
		line("error", e.Message+" (kind "+e.Kind+")")
	}
	for _, k := range slices.Sorted(maps.Keys(info.Meta)) {
		line("meta", k+"="+info.Meta[k])
	}
	_ = tw.Flush()
}

// infoJSON is the --json form of a task's Info.
type infoJSON struct {
	ID       string            `json:"id"`
	Status   strand.Status     `json:"status"`
	Func     string            `json:"func,omitempty"`
	Queue    string            `json:"queue,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Worker   string            `json:"worker,omitempty"`
	Created  *time.Time        `json:"created,omitempty"`
	Started  *time.Time        `json:"started,omitempty"`
	Finished *time.Time        `json:"finished,omitempty"`
	Progress *codec.Progress   `json:"progress,omitempty"`
	Items    int64             `json:"items,omitempty"`
	Error    *codec.ErrorInfo  `json:"error,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	RunAt    *time.Time        `json:"run_at,omitempty"`
	Waiting  string            `json:"waiting,omitempty"`
}

func printInfoJSON(out io.Writer, info *strand.Info) error {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return writeJSON(out, infoJSON{
		ID: info.ID, Status: info.Status, Func: info.Func, Queue: info.Queue,
		Attempt: info.Attempt, Worker: info.Worker,
		Created: at(info.Created), Started: at(info.Started), Finished: at(info.Finished),
		Progress: progressJSON(info.Progress), Items: info.Items, Error: errorInfo(info.Err), Meta: info.Meta,
		RunAt:   at(info.RunAt),
		Waiting: info.Waiting,
	})
}

// progressJSON is a progress report in the state record's JSON form.
func progressJSON(r *strand.Report) *codec.Progress {
	if r == nil {
		return nil
	}
	return &codec.Progress{Done: r.Done, Total: r.Total, Note: r.Note}
}

// waitingText explains why a pending task waits.
func waitingText(reason string) string {
	switch reason {
	case "paused":
		return "its queue is paused (strand queue resume QUEUE)"
	case "priority":
		return "priority low: it starts once no normal task waits"
	}
	return reason
}
