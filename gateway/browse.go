package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// summaryBody is one task of a list.
type summaryBody struct {
	ID          string            `json:"id"`
	Queue       string            `json:"queue"`
	Func        string            `json:"func,omitempty"`
	Status      string            `json:"status"`
	Attempt     int               `json:"attempt,omitempty"`
	Worker      string            `json:"worker,omitempty"`
	Created     string            `json:"created,omitempty"`
	Started     string            `json:"started,omitempty"`
	Finished    string            `json:"finished,omitempty"`
	NextAttempt string            `json:"next_attempt,omitempty"`
	Error       *errorBody        `json:"error,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	At          string            `json:"at"` // when its newest record was stored: the list's order
}

// pageBody is the answer of GET /v1/tasks.
type pageBody struct {
	Tasks   []summaryBody `json:"tasks"`
	Next    string        `json:"next,omitempty"`
	Scanned int           `json:"scanned"`
	Partial bool          `json:"partial"`
}

func summaryJSON(t *inspect.Task) summaryBody {
	s := summaryBody{
		ID: t.ID, Queue: t.Queue, Func: t.Func, Status: string(t.Status), Attempt: t.Attempt, Worker: t.Worker,
		Created: rfc3339(t.Created), Started: rfc3339(t.Started), Finished: rfc3339(t.Finished),
		NextAttempt: rfc3339(t.NextAttempt), Meta: t.Meta, At: rfc3339(t.At),
	}
	if t.Kind != "" || t.Error != "" {
		s.Error = &errorBody{Kind: t.Kind, Message: t.Error}
	}
	return s
}

// filterOf reads a task filter from query parameters: queue, status, func,
// id (a prefix), meta (key=value, repeatable), error (a piece of the text).
func filterOf(q url.Values) (broker.TaskFilter, error) {
	f := broker.TaskFilter{
		Queue: q.Get("queue"), Status: strand.Status(q.Get("status")), Func: q.Get("func"),
		IDPrefix: q.Get("id"), Error: q.Get("error"),
	}
	for _, kv := range q["meta"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return f, fmt.Errorf("meta %q: want key=value", kv)
		}
		if f.Meta == nil {
			f.Meta = map[string]string{}
		}
		f.Meta[k] = v
	}
	return f, f.Check()
}

// intParam reads a non-negative integer query parameter (0 when absent).
func intParam(q url.Values, name string, most int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > most {
		return 0, fmt.Errorf("%s %q: want an integer from 0 to %d", name, s, most)
	}
	return n, nil
}

// list answers GET /v1/tasks: a page of the tasks the server holds that
// match the filter, newest first (inspect.Inspector.Tasks).
func (g *gateway) list(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := filterOf(q)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	limit, err := intParam(q, "limit", broker.MaxPageSize)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	scan, err := intParam(q, "scan", broker.MaxScan)
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	p, err := g.in.Tasks(r.Context(), inspect.Filter{Queue: f.Queue, Status: f.Status, Func: f.Func, IDPrefix: f.IDPrefix,
		Meta: f.Meta, Error: f.Error, Cursor: q.Get("cursor"), Limit: limit, Scan: scan})
	if errors.Is(err, strand.ErrBadOption) {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	body := pageBody{Tasks: make([]summaryBody, 0, len(p.Tasks)), Next: p.Next, Scanned: p.Scanned, Partial: p.Partial}
	for i := range p.Tasks {
		body.Tasks = append(body.Tasks, summaryJSON(&p.Tasks[i]))
	}
	writeJSON(rw, http.StatusOK, body)
}

// minuteBody is one minute of a queue's work.
type minuteBody struct {
	Start     string  `json:"start"`
	Processed int     `json:"processed"`
	Failed    int     `json:"failed"`
	WaitP50   float64 `json:"wait_p50_ms"`
	WaitP99   float64 `json:"wait_p99_ms"`
	RunP50    float64 `json:"run_p50_ms"`
	RunP99    float64 `json:"run_p99_ms"`
}

// stats answers GET /v1/stats: each queue's work per minute over the last
// ?minutes= (default 60), computed from the outcomes the bucket keeps
// (inspect.Inspector.Stats), so that it survives a restart of the gateway.
func (g *gateway) stats(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	minutes, err := intParam(q, "minutes", 24*60)
	if err == nil && minutes == 0 {
		minutes = 60
	}
	var scan int
	if err == nil {
		scan, err = intParam(q, "scan", broker.MaxScan)
	}
	if err != nil {
		writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if qn := q.Get("queue"); qn != "" {
		if err := codec.ValidQueue(qn); err != nil {
			writeError(rw, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}
	rep, err := g.in.Stats(r.Context(), q.Get("queue"), minutes, scan)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	type queueMinutes struct {
		Queue   string       `json:"queue"`
		Minutes []minuteBody `json:"minutes"`
	}
	out := make([]queueMinutes, 0, len(rep.Queues))
	for _, name := range slices.Sorted(maps.Keys(rep.Queues)) {
		minutes := rep.Queues[name]
		qm := queueMinutes{Queue: name, Minutes: make([]minuteBody, 0, len(minutes))}
		for _, m := range minutes {
			qm.Minutes = append(qm.Minutes, minuteBody{Start: rfc3339(m.Start), Processed: m.Processed, Failed: m.Failed,
				WaitP50: ms(m.WaitP50), WaitP99: ms(m.WaitP99), RunP50: ms(m.RunP50), RunP99: ms(m.RunP99)})
		}
		out = append(out, qm)
	}
	writeJSON(rw, http.StatusOK, map[string]any{"queues": out, "scanned": rep.Scanned, "partial": rep.Partial})
}
