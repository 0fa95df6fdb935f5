package flow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/strand-run/strand/internal/codec"
)

// How a step receives the results of the steps it runs after.
const (
	// ResultsArgs (the default): one positional arg per step in After, in
	// that order, before the step's own args.
	ResultsArgs = codec.PassArgs
	// ResultsList: one positional arg, the list of results in the order of
	// After, before the step's own args (a chord's callback).
	ResultsList = codec.PassList
	// ResultsKwargs: the results as kwargs named by step, merged into the
	// step's own kwargs.
	ResultsKwargs = codec.PassKwargs
	// ResultsNone: the results are not passed.
	ResultsNone = codec.PassNone
)

// Failure policies.
const (
	// CancelOnFailure (the default): a failed step ends the workflow failed
	// and cancels every step that has not finished.
	CancelOnFailure = codec.OnFailureCancel
	// ContinueOnFailure: a failed step cancels the steps that depend on it;
	// the branches that do not run to their end.
	ContinueOnFailure = codec.OnFailureContinue
)

// Step is one task of a workflow and the steps it runs after. Build one
// with Call and its methods, or fill it in.
type Step struct {
	Name        string
	Func        string
	Args        []any // json.RawMessage values are taken as encoded JSON
	Kwargs      any   // a map or struct; json.RawMessage as encoded JSON
	AfterSteps  []string
	Results     string // ResultsArgs (""), ResultsList, ResultsKwargs, ResultsNone
	Queue       string // "" = the workflow's queue
	Timeout     time.Duration
	MaxAttempts int
	ResultTTL   time.Duration
	Meta        map[string]string
}

// Call is a step named name that calls fn with args.
func Call(name, fn string, args ...any) *Step {
	return &Step{Name: name, Func: fn, Args: args}
}

// After makes s run once the named steps have completed, with their
// results (see Pass).
func (s *Step) After(names ...string) *Step { s.AfterSteps = append(s.AfterSteps, names...); return s }

// Pass says how s receives the results of the steps it runs after.
func (s *Step) Pass(results string) *Step { s.Results = results; return s }

// On runs s on queue q.
func (s *Step) On(q string) *Step { s.Queue = q; return s }

// WithKwargs gives s keyword arguments.
func (s *Step) WithKwargs(kw any) *Step { s.Kwargs = kw; return s }

// WithTimeout bounds each attempt of s.
func (s *Step) WithTimeout(d time.Duration) *Step { s.Timeout = d; return s }

// WithAttempts lets s run up to n times (its own retries).
func (s *Step) WithAttempts(n int) *Step { s.MaxAttempts = n; return s }

// Definition is a workflow to submit: its steps, and how it ends on failure.
type Definition struct {
	// ID is the workflow's id; "" = a new UUIDv7. One of your own is an
	// idempotency key: a second submission of it is refused.
	ID string
	// Queue is where its start task goes, and the steps that name no queue
	// (default: the client's queue).
	Queue string
	// OnFailure is CancelOnFailure ("") or ContinueOnFailure.
	OnFailure string
	// Meta is copied into every step's task.
	Meta  map[string]string
	Steps []*Step
}

// New is a workflow of steps: a DAG whose edges are the steps' After.
func New(steps ...*Step) *Definition { return &Definition{Steps: steps} }

// Add adds steps to d.
func (d *Definition) Add(steps ...*Step) *Definition { d.Steps = append(d.Steps, steps...); return d }

// Continue makes d go on with the branches that do not depend on a failed step.
func (d *Definition) Continue() *Definition { d.OnFailure = ContinueOnFailure; return d }

// Last are the steps of d that no other runs after.
func (d *Definition) Last() []string {
	dep := map[string]bool{}
	for _, s := range d.Steps {
		for _, a := range s.AfterSteps {
			dep[a] = true
		}
	}
	var out []string
	for _, s := range d.Steps {
		if !dep[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out
}

// Chain runs steps one after the other, each receiving the result of the
// one before as its first argument (unless its Results says otherwise).
func Chain(steps ...*Step) *Definition {
	for i := 1; i < len(steps); i++ {
		steps[i].After(steps[i-1].Name)
	}
	return New(steps...)
}

// Steps is a group of steps that run at once (Group).
type Steps struct{ steps []*Step }

// Group is steps that run at once; Then gives them a callback (a chord).
func Group(steps ...*Step) *Steps { return &Steps{steps: steps} }

// Then makes a chord: callback runs once every step of g has completed,
// with the list of their results, in the group's order, as its first
// argument.
func (g *Steps) Then(callback *Step) *Definition {
	for _, s := range g.steps {
		callback.After(s.Name)
	}
	if callback.Results == "" {
		callback.Results = ResultsList
	}
	return New(append(g.steps, callback)...)
}

// Definition is the group alone, with no callback.
func (g *Steps) Definition() *Definition { return New(g.steps...) }

// encode turns d into its wire definition in format f.
func (d *Definition) encode(f codec.Format) (*codec.Flow, error) {
	fl := &codec.Flow{V: codec.Version, ID: d.ID, Queue: d.Queue, OnFailure: d.OnFailure, Meta: d.Meta}
	for _, s := range d.Steps {
		if s == nil {
			return nil, fmt.Errorf("%w: nil step", codec.ErrBadFlow)
		}
		cs := codec.FlowStep{
			Name: s.Name, Func: s.Func, After: s.AfterSteps, Results: s.Results, Queue: s.Queue,
			TimeoutMS: s.Timeout.Milliseconds(), MaxAttempts: s.MaxAttempts, ResultTTLMS: s.ResultTTL.Milliseconds(), Meta: s.Meta,
		}
		for i, a := range s.Args {
			raw, err := marshal(f, a)
			if err != nil {
				return nil, fmt.Errorf("%w: step %q: arg %d: %v", codec.ErrBadFlow, s.Name, i+1, err)
			}
			cs.Args = append(cs.Args, raw)
		}
		if s.Kwargs != nil {
			raw, err := marshal(f, s.Kwargs)
			if err != nil {
				return nil, fmt.Errorf("%w: step %q: kwargs: %v", codec.ErrBadFlow, s.Name, err)
			}
			cs.Kwargs = raw
		}
		fl.Steps = append(fl.Steps, cs)
	}
	return fl, nil
}

// marshal encodes v in f; a json.RawMessage is JSON already.
func marshal(f codec.Format, v any) (codec.Raw, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("invalid JSON")
		}
		if f.Layout() == codec.JSON {
			return codec.Raw(raw), nil
		}
		return codec.JSONToMsgpack(codec.Raw(raw))
	}
	return f.Marshal(v)
}
