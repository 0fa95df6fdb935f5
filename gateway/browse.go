package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
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

func summaryJSON(t *broker.TaskSummary) summaryBody {
	s := summaryBody{
		ID: t.ID, Queue: t.Queue, Func: t.Func, Status: string(t.Status), Attempt: t.Attempt, Worker: t.Worker,
		Created: rfc3339(t.Created), Started: rfc3339(t.Started), Finished: rfc3339(t.Finished),
		NextAttempt: rfc3339(t.NextAttempt), Meta: t.Meta, At: rfc3339(t.At),
	}
	if t.Error != nil {
		s.Error = &errorBody{Kind: t.Error.Kind, Message: t.Error.Message}
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
// match the filter, newest first (broker.Browse).
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
	p, err := g.b.Browse(r.Context(), f, limit, q.Get("cursor"), scan)
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
