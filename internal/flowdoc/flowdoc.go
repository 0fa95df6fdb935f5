// Package flowdoc reads the JSON document of a workflow, as `strand flow
// run FILE` and the gateway's POST /v1/flows take it, into a
// flow.Definition.
package flowdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/strand-run/strand"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/internal/codec"
)

// The JSON document of a workflow, as `strand flow run FILE` and
// `POST /v1/flows` take it (docs/protocol.md, "The workflow document"):
//
//	{"id": "…", "queue": "default", "on_failure": "cancel", "meta": {…},
//	 "steps": {"name": {"func": "add", "args": [1, 2], "kwargs": {…},
//	                    "after": ["other"], "queue": "q", "results": "args",
//	                    "timeout": "30s", "max_attempts": 3, "result_ttl": "1h", "meta": {…}}}}
//
// Only "steps" and each step's "func" are required; unknown keys are refused.
type document struct {
	ID        string            `json:"id"`
	Queue     string            `json:"queue"`
	OnFailure string            `json:"on_failure"`
	Meta      map[string]string `json:"meta"`
	Steps     json.RawMessage   `json:"steps"`
}

type stepDocument struct {
	Func        string            `json:"func"`
	Args        []json.RawMessage `json:"args"`
	Kwargs      json.RawMessage   `json:"kwargs"`
	After       []string          `json:"after"`
	Queue       string            `json:"queue"`
	Results     string            `json:"results"`
	Timeout     duration          `json:"timeout"`
	MaxAttempts int               `json:"max_attempts"`
	ResultTTL   duration          `json:"result_ttl"`
	Meta        map[string]string `json:"meta"`
}

// duration is a Go duration string ("30s") or a number of milliseconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = duration(v)
		return nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\" or milliseconds, got %s", b)
	}
	*d = duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// Parse reads a workflow document. Steps keep the document's order. The
// error names what is wrong and wraps codec.ErrBadFlow; the definition is
// checked in full (cycles, unknown steps) when it is submitted.
func Parse(data []byte) (*flow.Definition, error) {
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: document: %v", codec.ErrBadFlow, err)
	}
	d := &flow.Definition{ID: doc.ID, Queue: doc.Queue, OnFailure: doc.OnFailure, Meta: doc.Meta}
	if len(bytes.TrimSpace(doc.Steps)) == 0 || string(bytes.TrimSpace(doc.Steps)) == "null" {
		return nil, fmt.Errorf("%w: document: missing \"steps\"", codec.ErrBadFlow)
	}
	sd := json.NewDecoder(bytes.NewReader(doc.Steps))
	if tok, err := sd.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: document: \"steps\" must be an object of steps by name", codec.ErrBadFlow)
	}
	for sd.More() {
		tok, err := sd.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: document: steps: %v", codec.ErrBadFlow, err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := sd.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: step %q: %v", codec.ErrBadFlow, name, err)
		}
		var st stepDocument
		stepDec := json.NewDecoder(bytes.NewReader(raw))
		stepDec.DisallowUnknownFields()
		if err := stepDec.Decode(&st); err != nil {
			return nil, fmt.Errorf("%w: step %q: %v", codec.ErrBadFlow, name, err)
		}
		s := &flow.Step{
			Name: name, Func: st.Func, AfterSteps: st.After, Queue: st.Queue, Results: st.Results,
			Timeout: time.Duration(st.Timeout), MaxAttempts: st.MaxAttempts, ResultTTL: time.Duration(st.ResultTTL), Meta: st.Meta,
		}
		for _, a := range st.Args {
			s.Args = append(s.Args, a)
		}
		if len(st.Kwargs) > 0 && string(st.Kwargs) != "null" {
			s.Kwargs = st.Kwargs
		}
		d.Steps = append(d.Steps, s)
	}
	return d, nil
}

// StatusBody is a workflow's status as JSON, as `strand flow status` prints
// it and GET /v1/flows/{id} answers it (docs/protocol.md).
type StatusBody struct {
	ID       string     `json:"id"`
	Queue    string     `json:"queue"`
	Status   string     `json:"status"`
	Step     string     `json:"failed_step,omitempty"`
	Error    *ErrorBody `json:"error,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	Steps    []StepBody `json:"steps"`
}

// ErrorBody is a step's or a workflow's error as JSON.
type ErrorBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// StepBody is one step's status as JSON.
type StepBody struct {
	Name    string          `json:"name"`
	TaskID  string          `json:"task_id"`
	Func    string          `json:"func"`
	Queue   string          `json:"queue"`
	After   []string        `json:"after,omitempty"`
	Status  string          `json:"status"`
	Attempt int             `json:"attempt,omitempty"`
	Worker  string          `json:"worker,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *ErrorBody      `json:"error,omitempty"`
}

// Status is st as JSON.
func Status(st *flow.Status) StatusBody {
	b := StatusBody{ID: st.ID, Queue: st.Queue, Status: string(st.Status), Step: st.Step, Error: errorBody(st.Err),
		Finished: st.Finished, Steps: make([]StepBody, 0, len(st.Steps))}
	for _, s := range st.Steps {
		b.Steps = append(b.Steps, StepBody{Name: s.Name, TaskID: s.TaskID, Func: s.Func, Queue: s.Queue, After: s.After,
			Status: string(s.Status), Attempt: s.Attempt, Worker: s.Worker, Result: s.Result, Error: errorBody(s.Err)})
	}
	return b
}

func errorBody(err error) *ErrorBody {
	if err == nil {
		return nil
	}
	return &ErrorBody{Kind: string(strand.KindOf(err)), Message: err.Error()}
}
