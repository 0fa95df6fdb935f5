package codec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/strand-run/strand/internal/opt"

	strand "github.com/strand-run/strand"
)

// Header names on task writes.
const (
	HeaderContentType = "Content-Type"
	HeaderFunc        = "Strand-Func"
	HeaderTrace       = "traceparent"
)

// Version is the envelope version this package writes and the highest it
// reads. Version 2 changed the layout around the envelope (docs/protocol.md,
// "Versioning"), not its fields, so an envelope of version 1 reads as well.
const Version = 2

// ErrMalformed is strand.ErrMalformed: bytes that are not a valid record.
var ErrMalformed = strand.ErrMalformed

// Envelope is a task as it travels: the function to call by name, its
// arguments, and the options that govern the run. docs/protocol.md is its
// specification.
type Envelope struct {
	V           int               `msgpack:"v" json:"v"`
	ID          string            `msgpack:"id" json:"id"`
	Func        string            `msgpack:"func" json:"func"`
	Args        []Raw             `msgpack:"args" json:"args"`
	Kwargs      Raw               `msgpack:"kwargs,omitempty" json:"kwargs,omitempty"`
	Queue       string            `msgpack:"queue,omitempty" json:"queue,omitempty"`
	Created     int64             `msgpack:"created,omitempty" json:"created,omitempty"`             // unix ms
	Deadline    int64             `msgpack:"deadline,omitempty" json:"deadline,omitempty"`           // unix ms; reserved: workers ignore it (docs/protocol.md)
	TimeoutMS   int64             `msgpack:"timeout_ms,omitempty" json:"timeout_ms,omitempty"`       // handler time limit
	MaxAttempts int               `msgpack:"max_attempts,omitempty" json:"max_attempts,omitempty"`   // 0 = worker default
	ResultTTLMS int64             `msgpack:"result_ttl_ms,omitempty" json:"result_ttl_ms,omitempty"` // 0 = worker default
	Meta        map[string]string `msgpack:"meta,omitempty" json:"meta,omitempty"`
	Trace       string            `msgpack:"trace,omitempty" json:"trace,omitempty"` // W3C traceparent
	// Flow names the workflow a task belongs to (docs/protocol.md, Workflows).
	Flow *FlowRef `msgpack:"flow,omitempty" json:"flow,omitempty"`
	// Flow control (docs/protocol.md, "Flow control"); all optional.
	Priority  string `msgpack:"priority,omitempty" json:"priority,omitempty"`     // "high", "low"; "" = normal
	Key       string `msgpack:"key,omitempty" json:"key,omitempty"`               // the task's flow key (unique, debounce, limits)
	Unique    string `msgpack:"unique,omitempty" json:"unique,omitempty"`         // "for" or "finished": the key is unique
	NotBefore int64  `msgpack:"not_before,omitempty" json:"not_before,omitempty"` // unix ms: not started before (debounce)
}

// ErrorInfo is the error part of a state or outcome record.
type ErrorInfo struct {
	Kind    string `msgpack:"kind" json:"kind"`
	Message string `msgpack:"message" json:"message"`
}

// Err turns e into a *strand.TaskError (nil for a nil e).
func (e *ErrorInfo) Err() error {
	if e == nil {
		return nil
	}
	return &strand.TaskError{Kind: strand.Kind(e.Kind), Message: e.Message}
}

// Progress is a handler's report of how far it has come.
type Progress struct {
	Done  int64  `msgpack:"done" json:"done"`
	Total int64  `msgpack:"total,omitempty" json:"total,omitempty"`
	Note  string `msgpack:"note,omitempty" json:"note,omitempty"`
}

// State is the record s.<queue>.<id>: what a task is doing while it has no outcome.
type State struct {
	Status      strand.Status `msgpack:"status" json:"status"`
	Func        string        `msgpack:"func,omitempty" json:"func,omitempty"`
	Queue       string        `msgpack:"queue,omitempty" json:"queue,omitempty"`
	Attempt     int           `msgpack:"attempt,omitempty" json:"attempt,omitempty"`
	Worker      string        `msgpack:"worker,omitempty" json:"worker,omitempty"`
	Started     int64         `msgpack:"started,omitempty" json:"started,omitempty"` // unix ms
	Progress    *Progress     `msgpack:"progress,omitempty" json:"progress,omitempty"`
	NextAttempt int64         `msgpack:"next_attempt,omitempty" json:"next_attempt,omitempty"` // unix ms
	LastError   *ErrorInfo    `msgpack:"last_error,omitempty" json:"last_error,omitempty"`
	// Waiting says why a task that a worker holds has not started (status
	// pending): "limit: …" or "rate: …" (docs/protocol.md, "Flow control").
	Waiting string `msgpack:"waiting,omitempty" json:"waiting,omitempty"`
}

// Outcome is the record r.<queue>.<id>: a task's terminal status, written
// once (also the payload of a cancellation record c.<queue>.<id>).
// Func, Queue, Created and Meta repeat the envelope's, so that a task's
// metadata is at hand with the outcome, without reading the task record.
type Outcome struct {
	Status   strand.Status     `msgpack:"status" json:"status"`
	Func     string            `msgpack:"func,omitempty" json:"func,omitempty"`
	Queue    string            `msgpack:"queue,omitempty" json:"queue,omitempty"`
	Created  int64             `msgpack:"created,omitempty" json:"created,omitempty"` // unix ms
	Meta     map[string]string `msgpack:"meta,omitempty" json:"meta,omitempty"`
	Result   Raw               `msgpack:"result,omitempty" json:"result,omitempty"`
	Error    *ErrorInfo        `msgpack:"error,omitempty" json:"error,omitempty"`
	Attempt  int               `msgpack:"attempt,omitempty" json:"attempt,omitempty"`
	Started  int64             `msgpack:"started,omitempty" json:"started,omitempty"`   // unix ms
	Finished int64             `msgpack:"finished,omitempty" json:"finished,omitempty"` // unix ms
	Worker   string            `msgpack:"worker,omitempty" json:"worker,omitempty"`
	Items    int64             `msgpack:"items,omitempty" json:"items,omitempty"`
	// Task is the task's envelope, nested in the record's format, on a
	// failed or dead outcome: what a resubmission runs again (optional;
	// absent when the envelope would not fit the record).
	Task Raw `msgpack:"task,omitempty" json:"task,omitempty"`
}

// EncodeEnvelope validates e and encodes it in format f. Its kwargs must be
// a map in format f.
func EncodeEnvelope(f Format, e *Envelope) ([]byte, error) {
	if err := e.validate(f); err != nil {
		return nil, err
	}
	return f.Marshal(e)
}

// DecodeEnvelope decodes and validates an envelope in format f. Unknown keys
// are ignored; any other defect is an error wrapping ErrMalformed. In
// msgpack, its args and kwargs are slices of b, which must not change while
// they are in use (see Format.Unmarshal).
func DecodeEnvelope(f Format, b []byte) (_ *Envelope, err error) {
	defer recoverMalformed(&err, "envelope")
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	var e Envelope
	if err := unmarshalRecord(f, b, &e, decodeEnvelopeMsgpack); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f, err)
	}
	if err := e.validate(f); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks what every envelope must have: a supported version, an
// id, a function name, names that are valid subject tokens, and kwargs that
// are absent or a map. Validate does not know the envelope's format, so it
// guesses the format of the kwargs with Sniff, which is wrong for some
// msgpack values (the integer 123 is '{'); EncodeEnvelope and DecodeEnvelope,
// which know the format, check the kwargs exactly.
func (e *Envelope) Validate() error {
	return e.check(e.Kwargs.IsNil() || isMap(Sniff(e.Kwargs), e.Kwargs))
}

// validate is Validate for an envelope in format f.
func (e *Envelope) validate(f Format) error {
	return e.check(isNil(f, e.Kwargs) || isMap(f, e.Kwargs))
}

// check validates e, given whether its kwargs are nil or a map.
func (e *Envelope) check(kwargsOK bool) error {
	switch {
	case e.V == 0:
		return fmt.Errorf("%w: missing v", ErrMalformed)
	case e.V > Version:
		return fmt.Errorf("%w: envelope version %d is newer than this worker reads (1 to %d)", ErrMalformed, e.V, Version)
	case e.V < 0:
		return fmt.Errorf("%w: bad version %d", ErrMalformed, e.V)
	case e.Func == "":
		return fmt.Errorf("%w: missing func", ErrMalformed)
	}
	if err := ValidID(e.ID); err != nil {
		return err
	}
	if e.Queue != "" {
		if err := ValidQueue(e.Queue); err != nil {
			return err
		}
	}
	if !kwargsOK {
		return fmt.Errorf("%w: kwargs is not a map", ErrMalformed)
	}
	if e.TimeoutMS < 0 || e.ResultTTLMS < 0 || e.MaxAttempts < 0 {
		return fmt.Errorf("%w: negative timeout_ms, result_ttl_ms or max_attempts", ErrMalformed)
	}
	return nil
}

// isNil reports whether r, in format f, is absent or nil/null.
func isNil(f Format, r Raw) bool {
	if f.Layout() == JSON {
		return len(r) == 0 || string(trimJSONSpace(r)) == "null"
	}
	return len(r) == 0 || (len(r) == 1 && r[0] == 0xc0)
}

// isMap reports whether r, in format f, starts a map: a JSON object or a
// msgpack fixmap, map16 or map32.
func isMap(f Format, r Raw) bool {
	if f.Layout() == JSON {
		t := trimJSONSpace(r)
		return len(t) > 0 && t[0] == '{'
	}
	if len(r) == 0 {
		return false
	}
	c := r[0]
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf
}

// trimJSONSpace trims JSON's white space (space, tab, CR, LF) from both ends.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// MaxIDLen is the longest task id accepted.
const MaxIDLen = opt.MaxIDLen

// ValidID reports whether id can name a task: 1–128 characters of
// A–Z a–z 0–9 - _ = (one subject token, one KV key part).
func ValidID(id string) error { return malformed(opt.ValidID(id)) }

// ValidQueue reports whether q can name a queue: 1–64 characters of
// A–Z a–z 0–9 - _.
func ValidQueue(q string) error { return malformed(opt.ValidQueue(q)) }

func malformed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func tokenOK(s string, eq bool) bool { return opt.Token(s, eq) }

// DecodeState decodes an s.<id> record; the format is sniffed.
func DecodeState(b []byte) (_ *State, err error) {
	defer recoverMalformed(&err, "state")
	var s State
	if err := Sniff(b).Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: state: %v", ErrMalformed, err)
	}
	if s.Status == "" {
		return nil, fmt.Errorf("%w: state without status", ErrMalformed)
	}
	return &s, nil
}

// DecodeOutcome decodes an r.<id> record and returns it with its format (the
// format of its result). In msgpack, its result is a slice of b, which must
// not change while it is in use (see Format.Unmarshal).
func DecodeOutcome(b []byte) (_ *Outcome, f Format, err error) {
	defer recoverMalformed(&err, "outcome")
	f = Sniff(b)
	var o Outcome
	if err := unmarshalRecord(f, b, &o, decodeOutcomeMsgpack); err != nil {
		return nil, f, fmt.Errorf("%w: outcome: %v", ErrMalformed, err)
	}
	if !o.Status.Terminal() {
		return nil, f, fmt.Errorf("%w: outcome with status %q", ErrMalformed, o.Status)
	}
	return &o, f, nil
}

// unmarshalRecord is f.Unmarshal(b, v) for a new record v, which in
// msgpack goes by hand (records_msgpack.go) when it can.
func unmarshalRecord[T any](f Format, b []byte, v *T, byHand func([]byte, *T) bool) error {
	if f != Msgpack {
		return f.Unmarshal(b, v)
	}
	if err := checkMsgpack(b); err != nil {
		return err
	}
	if byHand(b, v) {
		return nil
	}
	var zero T
	*v = zero
	return f.Unmarshal(b, v)
}

// errorInfo builds the ErrorInfo for err.
func errorInfo(err error) *ErrorInfo {
	if err == nil {
		return nil
	}
	var te *strand.TaskError
	if errors.As(err, &te) {
		return &ErrorInfo{Kind: string(te.Kind), Message: te.Message}
	}
	return &ErrorInfo{Kind: string(strand.KindOf(err)), Message: err.Error()}
}

// ErrorInfoOf describes err as an ErrorInfo: its kind and message.
func ErrorInfoOf(err error) *ErrorInfo { return errorInfo(err) }
