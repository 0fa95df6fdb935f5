package strandtest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/writer"
)

// recorder records the tasks submitted through the writers it is
// middleware of: the env's, and those built with env.Middleware().
//
// Submissions are recorded as the writer's middleware sees them (after
// the middleware outside it has run) and only once the server accepted
// them, so a refused task (a taken id, say) is not recorded. A task
// recorded stays recorded after a worker has run it: unlike the work-queue
// stream, which a worker's ack empties, the recorder keeps history.
type recorder struct {
	mu   sync.Mutex
	subs []Submission
}

// Submission is one task submitted through a recording writer: what the
// server stored.
type Submission struct {
	ID    string
	Func  string
	Queue string
	Meta  map[string]string
	// Trace is the W3C traceparent the task carries ("" for none).
	Trace string
	// Encoding names the codec of its args ("msgpack", "json", …).
	Encoding string
	// MaxAttempts is the task's attempts (0: the worker's default).
	MaxAttempts int
	// Timeout is the task's time limit (0: none).
	Timeout time.Duration
	// Args are its positional args, and Kwargs its keyword args (nil for
	// none), as a worker decodes them: sub.Args[0].Decode(&v).
	Args   []strand.Value
	Kwargs strand.Value

	format codec.Format // the task's, in which Match encodes what it expects
	args   []codec.Raw  // msgpack, whatever the task's format
	kwargs codec.Raw
	err    error // what the recorder could not read back
}

// Middleware returns the writer middleware that records into the env, for
// a writer the code under test builds itself:
// writer.Config{Middleware: []writer.Middleware{env.Middleware()}}. The
// env's own writer records without it.
func (e *Env) Middleware() writer.Middleware { return e.rec.middleware() }

// middleware returns the writer middleware that records into r.
func (r *recorder) middleware() writer.Middleware {
	return func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, e *writer.Envelope) error {
			if err := next(ctx, e); err != nil {
				return err
			}
			s := record(e) // the task is on the server: recorded even if its args cannot be read back
			r.mu.Lock()
			r.subs = append(r.subs, s)
			r.mu.Unlock()
			return nil
		}
	}
}

// record copies what the server stored of e: its args and kwargs as they
// are encoded. An arg it cannot read back is the submission's err, which
// a Match reports.
func record(e *writer.Envelope) Submission {
	s, err := copyEnvelope(e)
	if err != nil {
		s.err = fmt.Errorf("record %s: %w", e.ID, err)
	}
	return s
}

func copyEnvelope(e *writer.Envelope) (Submission, error) {
	s := Submission{
		ID: e.ID, Func: e.Func, Queue: e.Queue, Meta: maps.Clone(e.Meta), Trace: e.Trace, Encoding: e.Encoding,
		MaxAttempts: e.MaxAttempts, Timeout: e.Timeout,
	}
	if s.Queue == "" {
		s.Queue = "default"
	}
	f, ok := codec.Named(e.Encoding)
	if !ok && e.Encoding != "" {
		return s, fmt.Errorf("unknown encoding %q", e.Encoding)
	}
	s.format = f
	s.args = make([]codec.Raw, len(e.Args))
	for i, a := range e.Args {
		var raw codec.Raw
		if err := a.Decode(&raw); err != nil {
			return s, err
		}
		s.args[i] = cloneRaw(raw)
	}
	s.Args = make([]strand.Value, len(s.args))
	for i, a := range s.args {
		s.Args[i] = codec.Value{F: codec.Msgpack, Raw: a, Pos: i + 1}
	}
	// Raw decodes as msgpack from either layout (DecodeValue carries JSON
	// over to msgpack), so the copies are msgpack.
	var kw codec.Raw
	if e.Kwargs != nil {
		if err := e.Kwargs.Decode(&kw); err != nil {
			return s, err
		}
	}
	s.kwargs = cloneRaw(kw)
	if !s.kwargs.IsNil() {
		s.Kwargs = codec.Value{F: codec.Msgpack, Raw: s.kwargs, What: "the kwargs"}
	}
	return s, nil
}

func cloneRaw(r codec.Raw) codec.Raw {
	if r == nil {
		return nil
	}
	return append(codec.Raw(nil), r...)
}

// submissions returns the recorded tasks, in the order the server accepted them.
func (r *recorder) submissions() []Submission {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Submission(nil), r.subs...)
}

// text describes the submission as JSON-like text: add(2, 3) id … on default.
func (s Submission) text() string {
	var b strings.Builder
	b.WriteString(s.Func)
	b.WriteByte('(')
	for i, a := range s.args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describe(codec.Msgpack, a))
	}
	if !s.kwargs.IsNil() {
		if len(s.args) > 0 {
			b.WriteString(", ")
		}
		b.WriteString("kwargs=")
		b.WriteString(describe(codec.Msgpack, s.kwargs))
	}
	fmt.Fprintf(&b, ") id %s on %s", s.ID, s.Queue)
	if len(s.Meta) > 0 {
		fmt.Fprintf(&b, " meta %v", s.Meta)
	}
	return b.String()
}

func describe(f codec.Format, r codec.Raw) string {
	if j, err := codec.ToJSON(f, r); err == nil {
		return string(j)
	}
	return codec.Describe(f, r)
}

// Match says which submissions of a function count. Args and Kwargs are
// compared as on the wire: each encoded in the task's format and decoded
// again, so 2 and int64(2) match, and a kwargs struct matches a map with
// its msgpack (or json) names. A nil field is not compared.
type Match struct {
	// Args are the positional args, all of them; nil: any args (use
	// []any{} for a task with none).
	Args []any
	// Kwargs are the keyword args, all of them (a map or a struct); nil: any.
	Kwargs any
	// Queue is the task's queue; "": any.
	Queue string
	// Meta are entries the task's meta must hold (it may hold others).
	Meta map[string]string
	// Within is how long RequireSubmitted waits for such a task, for code
	// that submits in the background (0: it must have been submitted
	// already).
	Within time.Duration
}

// RequireSubmitted asserts that a task of fn matching m (nil: any task of
// fn) was submitted through the env's writers, waiting up to m.Within for
// it, and returns the first such submission; otherwise it fails the test,
// listing what was submitted.
//
//	sub := env.RequireSubmitted(t, "add", &strandtest.Match{Args: []any{2, 3}})
//	h, _ := env.Writer.Open(sub.ID)
func (e *Env) RequireSubmitted(t testing.TB, fn string, m *Match) Submission {
	t.Helper()
	var within time.Duration
	if m != nil {
		within = m.Within
	}
	deadline := time.Now().Add(within)
	for {
		subs := e.rec.submissions()
		for _, s := range subs {
			ok, err := m.matches(s, fn)
			if err != nil {
				t.Fatalf("strandtest: RequireSubmitted %s: %v", fn, err)
			}
			if ok {
				return s
			}
		}
		if !time.Now().Before(deadline) {
			if within > 0 {
				t.Fatalf("strandtest: no task %s was submitted within %v%s", m.describe(fn), within, listing(subs))
			} else {
				t.Fatalf("strandtest: no task %s was submitted%s", m.describe(fn), listing(subs))
			}
			return Submission{}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RequireNotSubmitted asserts that no task of fn matching m (nil: no task
// of fn at all) was submitted through the env's writers; otherwise it fails
// the test, naming it. m.Within is not used.
func (e *Env) RequireNotSubmitted(t testing.TB, fn string, m *Match) {
	t.Helper()
	for _, s := range e.rec.submissions() {
		ok, err := m.matches(s, fn)
		if err != nil {
			t.Fatalf("strandtest: RequireNotSubmitted %s: %v", fn, err)
		}
		if ok {
			t.Fatalf("strandtest: a task %s was submitted: %s", m.describe(fn), s.text())
		}
	}
}

func listing(subs []Submission) string {
	if len(subs) == 0 {
		return " (nothing was submitted)"
	}
	var b strings.Builder
	b.WriteString("; submitted:")
	for _, s := range subs {
		b.WriteString("\n\t")
		b.WriteString(s.text())
	}
	return b.String()
}

func (m *Match) describe(fn string) string {
	if m == nil {
		return fn
	}
	var parts []string
	if m.Args != nil {
		parts = append(parts, fmt.Sprintf("args %v", m.Args))
	}
	if m.Kwargs != nil {
		parts = append(parts, fmt.Sprintf("kwargs %+v", m.Kwargs))
	}
	if m.Queue != "" {
		parts = append(parts, "queue "+m.Queue)
	}
	if len(m.Meta) > 0 {
		parts = append(parts, fmt.Sprintf("meta %v", m.Meta))
	}
	if len(parts) == 0 {
		return fn
	}
	return fn + " with " + strings.Join(parts, ", ")
}

// matches reports whether s is a task of fn that m describes; the error is
// for expected values that cannot be encoded.
func (m *Match) matches(s Submission, fn string) (bool, error) {
	if s.Func != fn {
		return false, nil
	}
	if s.err != nil {
		return false, s.err
	}
	if m == nil {
		return true, nil
	}
	if m.Queue != "" && s.Queue != m.Queue {
		return false, nil
	}
	for k, v := range m.Meta {
		if got, ok := s.Meta[k]; !ok || got != v {
			return false, nil
		}
	}
	f := s.format
	if m.Args != nil {
		if len(m.Args) != len(s.args) {
			return false, nil
		}
		for i, want := range m.Args {
			ok, err := sameValue(f, want, s.args[i])
			if err != nil {
				return false, fmt.Errorf("arg %d: %w", i+1, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	if m.Kwargs != nil {
		if s.kwargs.IsNil() {
			return false, nil
		}
		ok, err := sameValue(f, m.Kwargs, s.kwargs)
		if err != nil {
			return false, fmt.Errorf("kwargs: %w", err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// sameValue reports whether want, encoded in f, is the value got (msgpack).
func sameValue(f codec.Format, want any, got codec.Raw) (bool, error) {
	raw, err := f.Marshal(want)
	if err != nil {
		return false, err
	}
	w, err := codec.ToAny(f, raw)
	if err != nil {
		return false, err
	}
	g, err := codec.ToAny(codec.Msgpack, got)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(normalize(w), normalize(g)), nil
}

// normalize makes integers of every width int64 (uint64 above its range
// stays uint64) and float32 float64, so values equal on the wire compare
// equal whatever encoding width each side chose.
func normalize(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[normalize(k)] = normalize(e)
		}
		return out
	}
	return v
}
