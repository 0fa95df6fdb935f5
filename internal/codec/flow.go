package codec

import (
	"fmt"
	"slices"
	"strings"

	strand "github.com/strand-run/strand"
)

// FlowStartFunc is the function name of a workflow's start task: the one
// message that creates a workflow. Workers run it themselves (they store the
// definition and release the steps that depend on nothing); an older worker
// fails it as an unknown function, so a workflow never half-runs there.
const FlowStartFunc = "strand.flow"

// FlowRef is the envelope's "flow" key: the workflow a task belongs to, and
// its step (empty for the start task).
type FlowRef struct {
	ID    string `msgpack:"id" json:"id"`
	Queue string `msgpack:"queue" json:"queue"`
	Step  string `msgpack:"step,omitempty" json:"step,omitempty"`
}

// How a step receives the results of the steps it runs after (FlowStep.Results).
const (
	PassArgs   = "args"   // positional args, in the order of after, before its own (default)
	PassList   = "list"   // one positional arg, the list of results in the order of after
	PassKwargs = "kwargs" // kwargs by step name, merged into its own kwargs
	PassNone   = "none"   // not at all
)

// Failure policies of a workflow (Flow.OnFailure).
const (
	// OnFailureCancel (the default): a failed step ends the workflow failed;
	// every step that has not finished is cancelled.
	OnFailureCancel = "cancel"
	// OnFailureContinue: a failed step cancels only the steps that depend on
	// it; branches that do not go on to their end.
	OnFailureContinue = "continue"
)

// Flow is a workflow's definition: the record f.<queue>.<id> and the only
// argument of its start task. It never changes once written.
type Flow struct {
	V           int               `msgpack:"v" json:"v"`
	ID          string            `msgpack:"id" json:"id"`
	Queue       string            `msgpack:"queue" json:"queue"`
	OnFailure   string            `msgpack:"on_failure,omitempty" json:"on_failure,omitempty"`
	Created     int64             `msgpack:"created,omitempty" json:"created,omitempty"`
	TaskTTLMS   int64             `msgpack:"task_ttl_ms,omitempty" json:"task_ttl_ms,omitempty"`
	ResultTTLMS int64             `msgpack:"result_ttl_ms,omitempty" json:"result_ttl_ms,omitempty"`
	Meta        map[string]string `msgpack:"meta,omitempty" json:"meta,omitempty"`
	Steps       []FlowStep        `msgpack:"steps" json:"steps"`

	index map[string]int // name → position in Steps
	kids  [][]int        // position → positions of the steps that run after it
}

// FlowStep is one step of a workflow: a task and the steps it runs after.
type FlowStep struct {
	Name        string            `msgpack:"name" json:"name"`
	Func        string            `msgpack:"func" json:"func"`
	Args        []Raw             `msgpack:"args,omitempty" json:"args,omitempty"`
	Kwargs      Raw               `msgpack:"kwargs,omitempty" json:"kwargs,omitempty"`
	After       []string          `msgpack:"after,omitempty" json:"after,omitempty"`
	Results     string            `msgpack:"results,omitempty" json:"results,omitempty"`
	Queue       string            `msgpack:"queue,omitempty" json:"queue,omitempty"`
	TimeoutMS   int64             `msgpack:"timeout_ms,omitempty" json:"timeout_ms,omitempty"`
	MaxAttempts int               `msgpack:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	ResultTTLMS int64             `msgpack:"result_ttl_ms,omitempty" json:"result_ttl_ms,omitempty"`
	Meta        map[string]string `msgpack:"meta,omitempty" json:"meta,omitempty"`
}

// FlowOutcome is a workflow's end, the record w.<queue>.<id>: written once,
// create-only, by whoever sees the workflow end first.
type FlowOutcome struct {
	Status   strand.Status `msgpack:"status" json:"status"`
	Step     string        `msgpack:"step,omitempty" json:"step,omitempty"` // the step that failed
	Error    *ErrorInfo    `msgpack:"error,omitempty" json:"error,omitempty"`
	Finished int64         `msgpack:"finished,omitempty" json:"finished,omitempty"`
}

// ErrBadFlow is wrapped by every refusal of a workflow's definition.
var ErrBadFlow = fmt.Errorf("%w: workflow", strand.ErrBadOption)

// MaxFlowIDLen keeps a step's task id, <flow id>=<step name>, within MaxIDLen.
const MaxFlowIDLen = MaxIDLen - 1 - maxStepName

const maxStepName = 64

// StepID is the task id of step name of workflow flowID: the same for every
// process, so that a step released twice is refused as a duplicate.
func StepID(flowID, name string) string { return flowID + "=" + name }

// Validate checks a definition and indexes it: an id, a queue, valid and
// unique step names, known functions, dependencies that exist and make no
// cycle, a known failure policy and known ways to pass results. The error
// names what is wrong and wraps ErrBadFlow.
func (f *Flow) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadFlow, fmt.Sprintf(format, a...))
	}
	if err := ValidID(f.ID); err != nil || len(f.ID) > MaxFlowIDLen || strings.Contains(f.ID, "=") {
		return bad("id %q: want 1-%d of A-Z a-z 0-9 - _", f.ID, MaxFlowIDLen)
	}
	if err := ValidQueue(f.Queue); err != nil {
		return bad("%v", err)
	}
	switch f.OnFailure {
	case "", OnFailureCancel, OnFailureContinue:
	default:
		return bad("on_failure %q: want %q or %q", f.OnFailure, OnFailureCancel, OnFailureContinue)
	}
	if len(f.Steps) == 0 {
		return bad("no steps")
	}
	f.index = make(map[string]int, len(f.Steps))
	for i, s := range f.Steps {
		if s.Name == "" || len(s.Name) > maxStepName || !tokenOK(s.Name, false) {
			return bad("step name %q: want 1-%d of A-Z a-z 0-9 - _", s.Name, maxStepName)
		}
		if _, dup := f.index[s.Name]; dup {
			return bad("duplicate step name %q", s.Name)
		}
		f.index[s.Name] = i
		if s.Func == "" {
			return bad("step %q: missing func", s.Name)
		}
		if s.Queue != "" {
			if err := ValidQueue(s.Queue); err != nil {
				return bad("step %q: %v", s.Name, err)
			}
		}
		switch s.Results {
		case "", PassArgs, PassList, PassKwargs, PassNone:
		default:
			return bad("step %q: results %q: want args, list, kwargs or none", s.Name, s.Results)
		}
		if s.TimeoutMS < 0 || s.MaxAttempts < 0 || s.ResultTTLMS < 0 {
			return bad("step %q: negative option", s.Name)
		}
	}
	f.kids = make([][]int, len(f.Steps))
	for i, s := range f.Steps {
		seen := make(map[string]bool, len(s.After))
		for _, p := range s.After {
			j, ok := f.index[p]
			switch {
			case !ok:
				return bad("step %q runs after %q, which is not a step", s.Name, p)
			case seen[p]:
				return bad("step %q names %q twice in after", s.Name, p)
			case j == i:
				return bad("step %q runs after itself", s.Name)
			}
			seen[p] = true
			f.kids[j] = append(f.kids[j], i)
		}
	}
	if cycle := f.cycle(); cycle != nil {
		return bad("cycle: %s", strings.Join(cycle, " → "))
	}
	return nil
}

// cycle returns the names along a dependency cycle, or nil if there is none.
func (f *Flow) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(f.Steps))
	var stack []int
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, k := range f.kids[i] {
			switch color[k] {
			case grey:
				at := slices.Index(stack, k)
				for _, s := range stack[at:] {
					found = append(found, f.Steps[s].Name)
				}
				found = append(found, f.Steps[k].Name)
				return true
			case white:
				if visit(k) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range f.Steps {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// Step returns the step called name.
func (f *Flow) Step(name string) (*FlowStep, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Steps[i], true
}

// StepQueue is the queue step s runs on.
func (f *Flow) StepQueue(s *FlowStep) string {
	if s.Queue != "" {
		return s.Queue
	}
	return f.Queue
}

// Children are the steps that run after step name, in definition order.
func (f *Flow) Children(name string) []*FlowStep {
	var out []*FlowStep
	for _, k := range f.kids[f.index[name]] {
		out = append(out, &f.Steps[k])
	}
	return out
}

// Roots are the steps that run after no other.
func (f *Flow) Roots() []*FlowStep {
	var out []*FlowStep
	for i := range f.Steps {
		if len(f.Steps[i].After) == 0 {
			out = append(out, &f.Steps[i])
		}
	}
	return out
}

// Sinks are the steps no other runs after: the workflow's final steps.
func (f *Flow) Sinks() []*FlowStep {
	var out []*FlowStep
	for i := range f.Steps {
		if len(f.kids[i]) == 0 {
			out = append(out, &f.Steps[i])
		}
	}
	return out
}

// Descendants are the steps that depend on step name, directly or not.
func (f *Flow) Descendants(name string) []*FlowStep {
	seen := make([]bool, len(f.Steps))
	var out []*FlowStep
	var walk func(i int)
	walk = func(i int) {
		for _, k := range f.kids[i] {
			if !seen[k] {
				seen[k] = true
				out = append(out, &f.Steps[k])
				walk(k)
			}
		}
	}
	walk(f.index[name])
	return out
}

// DecodeFlow decodes and validates a workflow definition in either format.
func DecodeFlow(b []byte) (_ *Flow, err error) {
	defer recoverMalformed(&err, "flow")
	var fl Flow
	if err := Sniff(b).Unmarshal(b, &fl); err != nil {
		return nil, fmt.Errorf("%w: flow: %v", ErrMalformed, err)
	}
	if err := fl.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &fl, nil
}

// DecodeFlowOutcome decodes a workflow's end record in either format.
func DecodeFlowOutcome(b []byte) (_ *FlowOutcome, err error) {
	defer recoverMalformed(&err, "flow outcome")
	var o FlowOutcome
	if err := Sniff(b).Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%w: flow outcome: %v", ErrMalformed, err)
	}
	if !o.Status.Terminal() {
		return nil, fmt.Errorf("%w: flow outcome with status %q", ErrMalformed, o.Status)
	}
	return &o, nil
}

// StepArgs builds the args and kwargs of step s in format f from the
// results of the steps it runs after (results[i] is the result of
// s.After[i], in its own format from). Nil results are passed as nil.
func StepArgs(f Format, s *FlowStep, results []Raw, from []Format) (args []Raw, kwargs Raw, err error) {
	conv, i, err := convertAll(results, from, f)
	if err != nil {
		return nil, nil, fmt.Errorf("result of %s: %w", s.After[i], err)
	}
	kwargs = s.Kwargs
	switch s.Results {
	case "", PassArgs:
		args = append(conv, s.Args...)
	case PassList:
		list, err := f.Marshal(conv)
		if err != nil {
			return nil, nil, err
		}
		args = append([]Raw{list}, s.Args...)
	case PassKwargs:
		args = s.Args
		m := map[string]Raw{}
		if !isNil(f, s.Kwargs) {
			if err := f.Unmarshal(s.Kwargs, &m); err != nil {
				return nil, nil, fmt.Errorf("kwargs: %w", err)
			}
		}
		for i, name := range s.After {
			m[name] = conv[i]
		}
		if kwargs, err = f.Marshal(m); err != nil {
			return nil, nil, err
		}
	case PassNone:
		args = s.Args
	}
	if args == nil {
		args = []Raw{}
	}
	return args, kwargs, nil
}

// List encodes values, each in its own format, as one list in format f:
// what a step receives as the result of an iterator step (its items).
func List(f Format, values []Raw, from []Format) (Raw, error) {
	conv, i, err := convertAll(values, from, f)
	if err != nil {
		return nil, fmt.Errorf("item %d: %w", i, err)
	}
	return f.Marshal(conv)
}

// convertAll re-encodes each of values from its format in from to format
// to; on failure it returns the index of the value that failed.
func convertAll(values []Raw, from []Format, to Format) ([]Raw, int, error) {
	conv := make([]Raw, len(values))
	for i, v := range values {
		var err error
		if conv[i], err = convert(v, from[i], to); err != nil {
			return nil, i, err
		}
	}
	return conv, 0, nil
}

// convert re-encodes a value of format from in format to; nil is nil.
func convert(r Raw, from, to Format) (Raw, error) {
	if len(r) == 0 {
		return to.Marshal(nil)
	}
	switch fl, tl := from.Layout(), to.Layout(); {
	case fl == tl:
		return r, nil
	case tl == JSON:
		return ToJSON(from, r)
	default:
		return JSONToMsgpack(r)
	}
}
