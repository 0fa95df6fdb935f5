package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/opt"
)

// Step is one task of a workflow and the steps it runs after. Build one
// with Call and its methods, or fill it in.
type Step struct {
	Name       string
	Func       string
	Args       []any // json.RawMessage values are taken as encoded JSON
	Kwargs     any   // a map or struct; json.RawMessage as encoded JSON
	AfterSteps []string
	// Results says how the step receives the results of AfterSteps, as the
	// workflow document's "results" does:
	//   - "args" (the default, also ""): one positional arg per step in
	//     AfterSteps, in that order, before the step's own args;
	//   - "list": one positional arg, the list of the results in the order
	//     of AfterSteps, before the step's own args (a chord's callback: Then);
	//   - "kwargs": the results as kwargs named by step, merged into the
	//     step's own kwargs;
	//   - "none": the results are not passed.
	// Any other value is refused by Submit.
	Results     string
	Queue       string // "" = the workflow's queue
	Timeout     time.Duration
	MaxAttempts int
	ResultTTL   time.Duration
	Meta        map[string]string

	err error // an option of With that does not fit a step; Submit returns it
}

// Call is a step named name that calls fn with args.
func Call(name, fn string, args ...any) *Step {
	return &Step{Name: name, Func: fn, Args: args}
}

// After makes s run once the named steps have completed, with their
// results (as s.Results says).
func (s *Step) After(names ...string) *Step { s.AfterSteps = append(s.AfterSteps, names...); return s }

// With applies submit options to s: strand.Queue (the step runs on that
// queue), strand.Timeout (it bounds each attempt), strand.MaxAttempts (the
// step's own retries), strand.Kwargs, strand.ResultTTL and strand.Meta. An
// invalid option, or one a step cannot take (an id, a delay, a priority,
// uniqueness: the workflow owns those), makes Submit fail with an error
// wrapping strand.ErrBadOption.
//
//	flow.Call("resize", "resize", url).With(strand.Queue("images"), strand.Timeout(time.Minute))
func (s *Step) With(opts ...strand.Option) *Step {
	var c opt.Call
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if err := c.Err(); err != nil {
		s.err = errors.Join(s.err, fmt.Errorf("step %q: %w", s.Name, err))
		return s
	}
	for _, name := range c.Names() {
		switch name {
		case "Queue":
			s.Queue = c.Queue
		case "Timeout":
			s.Timeout = c.Timeout
		case "MaxAttempts":
			s.MaxAttempts = c.MaxAttempts
		case "Kwargs":
			s.Kwargs = c.Kwargs
		case "ResultTTL":
			s.ResultTTL = c.ResultTTL
		case "Meta":
			if s.Meta == nil {
				s.Meta = map[string]string{}
			}
			maps.Copy(s.Meta, c.Meta)
		default:
			s.err = errors.Join(s.err, fmt.Errorf("%w: step %q: %s does not apply to a workflow step", strand.ErrBadOption, s.Name, name))
		}
	}
	return s
}

// Definition is a workflow to submit: its steps, and how it ends on failure.
type Definition struct {
	// ID is the workflow's id; "" = a new UUIDv7. One of your own is an
	// idempotency key: a second submission of it is refused.
	ID string
	// Queue is where its start task goes, and the steps that name no queue
	// (default: the writer's queue).
	Queue string
	// OnFailure is "cancel" (the default, also ""): a failed step ends the
	// workflow failed and cancels every step that has not finished; or
	// "continue": a failed step cancels only the steps that depend on it,
	// and the other branches run to their end.
	OnFailure string
	// Encoding names the codec of the steps' args and results: "msgpack",
	// "json" or a registered one ("" = the writer's, writer.Config.JSON).
	Encoding string
	// Meta is copied into every step's task.
	Meta  map[string]string
	Steps []*Step
}

// New is a workflow of steps: a DAG whose edges are the steps' After. Steps
// with no After between them run at once (a group).
func New(steps ...*Step) *Definition { return &Definition{Steps: steps} }

// last are the steps of d that no other runs after.
func (d *Definition) last() []string {
	dep := map[string]bool{}
	for _, s := range d.Steps {
		for _, a := range s.AfterSteps {
			dep[a] = true
		}
	}
	var out []string
	for _, s := range d.Steps {
		if s != nil && !dep[s.Name] {
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

// Then adds callback to d, run once every final step of d (every step no
// other runs after) has completed, with the list of their results, in the
// order of d's steps, as its first argument (unless its Results says
// otherwise). On a group of steps it makes a chord:
//
//	flow.New(flow.Call("x", "add", 1, 1), flow.Call("y", "add", 2, 2)).
//		Then(flow.Call("total", "sum")) // sum([2, 4])
func (d *Definition) Then(callback *Step) *Definition {
	callback.After(d.last()...)
	if callback.Results == "" {
		callback.Results = codec.PassList
	}
	d.Steps = append(d.Steps, callback)
	return d
}

// encode turns d into its wire definition in format f.
func (d *Definition) encode(f codec.Format) (*codec.Flow, error) {
	fl := &codec.Flow{V: codec.Version, ID: d.ID, Queue: d.Queue, OnFailure: d.OnFailure, Meta: d.Meta}
	for _, s := range d.Steps {
		if s == nil {
			return nil, fmt.Errorf("%w: nil step", codec.ErrBadFlow)
		}
		if s.err != nil {
			return nil, fmt.Errorf("%w: %w", codec.ErrBadFlow, s.err)
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
