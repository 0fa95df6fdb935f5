package codec_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// The shared test vectors of testdata/vectors (see its README.md) are made
// here from the codec and checked against it on every run, so that the
// files other languages test against cannot drift from what Go writes and
// reads. `go test ./internal/codec -run Vectors -update` writes them again.
var update = flag.Bool("update", false, "write testdata/vectors from the codec")

const vectorsDir = "../../testdata/vectors"

// vector is one entry of testdata/vectors/vectors.json.
type vector struct {
	Name    string            `json:"name"`
	Kind    string            `json:"kind"`
	Format  string            `json:"format"`
	File    string            `json:"file"`
	Subject string            `json:"subject,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Value   json.RawMessage   `json:"value"`
	ReadsAs json.RawMessage   `json:"reads_as,omitempty"`
	Note    string            `json:"note,omitempty"`

	data []byte // the bytes, written to File
}

// vectorIndex is testdata/vectors/vectors.json.
type vectorIndex struct {
	Protocol int      `json:"protocol"`
	Comment  string   `json:"comment"`
	Vectors  []vector `json:"vectors"`
}

const (
	vid     = "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c"
	vq      = "default"
	vtime   = int64(1767225600000) // 2026-01-01T00:00:00Z, unix ms
	vworker = "w1"
)

// vraw encodes v as a value inside a record: msgpack with compact integers
// and map keys sorted (Go's map order is random, and the files must not
// change from run to run), JSON as encoding/json writes it (keys sorted).
func vraw(t testing.TB, f codec.Format, v any) codec.Raw {
	t.Helper()
	if f == codec.JSON {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseCompactInts(true)
	e.SetSortMapKeys(true)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func vargs(t testing.TB, f codec.Format, vs ...any) []codec.Raw {
	out := make([]codec.Raw, len(vs))
	for i, v := range vs {
		out[i] = vraw(t, f, v)
	}
	return out
}

// manyValues is a value of each type the wire carries in args, results and items.
func manyValues() []any {
	return []any{
		nil, true, false, 0, 1, -1, 127, 128, -32, -33, 255, 256, -200, 65535, 65536, 70000, -70000,
		int64(1) << 40, int64(math.MaxInt32) + 1, int64(-1) << 40, int64(1)<<53 - 1, -(int64(1)<<53 - 1),
		2.5, -0.125, 1e100, "", "x", "héllo ✓ 日本", strings.Repeat("s", 40), strings.Repeat("l", 300),
		[]any{}, []any{1, []any{2, "x"}}, map[string]any{}, map[string]any{"a": map[string]any{"b": []any{true, nil}}, "z": 1},
	}
}

func envelopeVectors(t testing.TB, f codec.Format) map[string]*codec.Envelope {
	return map[string]*codec.Envelope{
		"envelope_add":       {V: 2, ID: vid, Func: "add", Args: vargs(t, f, 2, 3), Queue: vq, Created: vtime},
		"envelope_no_args":   {V: 2, ID: vid, Func: "ping", Args: []codec.Raw{}, Queue: vq, Created: vtime},
		"envelope_null_args": {V: 2, ID: vid, Func: "ping"},
		"envelope_kwargs_meta_options": {
			V: 2, ID: vid, Func: "scaled_add", Args: vargs(t, f, 2, 3),
			Kwargs: vraw(t, f, map[string]any{"scale": 10}), Queue: vq, Created: vtime,
			TimeoutMS: 30000, MaxAttempts: 3, Meta: map[string]string{"user": "ann"},
		},
		"envelope_every_field": {
			V: 2, ID: "my-own_id=1", Func: "send_mail", Args: vargs(t, f, "ann@example.com"),
			Kwargs: vraw(t, f, map[string]any{"cc": []any{"bob@example.com"}, "priority": 2, "subject": "hi"}),
			Queue:  "emails", Created: vtime, Deadline: vtime + 60000, TimeoutMS: 1500, MaxAttempts: 5,
			ResultTTLMS: 3600000, Meta: map[string]string{"caller": "billing"},
			Trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
		"envelope_values": {V: 2, ID: vid, Func: "echo", Args: vargs(t, f, manyValues()...), Queue: vq, Created: vtime},
		"envelope_v1":     {V: 1, ID: vid, Func: "add", Args: vargs(t, f, 2, 3), Queue: vq, Created: vtime},
	}
}

func stateVectors() map[string]*codec.State {
	return map[string]*codec.State{
		"state_running": {Status: strand.StatusRunning, Func: "add", Queue: vq, Attempt: 1, Worker: vworker, Started: vtime + 12},
		"state_running_progress": {
			Status: strand.StatusRunning, Func: "work", Queue: vq, Attempt: 1, Worker: vworker, Started: vtime + 12,
			Progress: &codec.Progress{Done: 3, Total: 10, Note: "step 3"},
		},
		"state_progress_no_total": {
			Status: strand.StatusRunning, Func: "work", Queue: vq, Attempt: 2, Worker: vworker, Started: vtime + 12,
			Progress: &codec.Progress{Done: 7},
		},
		"state_retrying": {
			Status: strand.StatusRetrying, Func: "fail", Queue: vq, Attempt: 1, Worker: vworker, Started: vtime + 12,
			NextAttempt: vtime + 1012, LastError: &codec.ErrorInfo{Kind: string(strand.ErrFailed), Message: "fail: boom"},
		},
	}
}

// failures are the failed outcomes, one per error kind.
var failures = []struct{ name, kind, fn, msg string }{
	{"error", string(strand.ErrFailed), "fail", "fail: boom"},
	{"panic", string(strand.ErrPanic), "crash", "crash: panic: runtime error: index out of range [3] with length 1"},
	{"timeout", string(strand.ErrTimeout), "sleep", "sleep: timed out after 20ms"},
	{"cancelled", string(strand.ErrCancelled), "sleep", "sleep: cancelled by caller"},
	{"unknown_func", string(strand.ErrUnknownFunc), "nosuch", "nosuch: unknown function (this worker runs: add, count, echo, fail, sleep, work)"},
	{"bad_args", string(strand.ErrBadArgs), "add", `add: arg 1: want int, got string "x"`},
	{"malformed", string(strand.ErrMalformed), "", "task " + vid + ": strand: malformed envelope: missing func"},
	{"too_large", string(strand.ErrTooLarge), "big", "big: strand: payload too large: the result is 2000000 bytes, the server accepts 1048064"},
	{"lost", string(strand.ErrLost), "add", "add: delivered 10 times, its workers died each time"},
	{"crashed", string(strand.ErrCrashed), "add", "add: strand: task process crashed: exit status 2"},
	{string(strand.ErrForbidden), string(strand.ErrForbidden), "add", "add: strand: forbidden: caller billing may not call add"},
}

func outcomeVectors(t testing.TB, f codec.Format) map[string]*codec.Outcome {
	done := func(o *codec.Outcome) *codec.Outcome {
		o.Attempt, o.Started, o.Finished, o.Worker = max(o.Attempt, 1), vtime+12, vtime+13, vworker
		return o
	}
	out := map[string]*codec.Outcome{
		"outcome_completed": done(&codec.Outcome{Status: strand.StatusCompleted, Result: vraw(t, f, 5)}),
		"outcome_completed_copied": done(&codec.Outcome{
			Status: strand.StatusCompleted, Func: "add", Queue: vq, Created: vtime,
			Meta: map[string]string{"user": "ann"}, Result: vraw(t, f, 5),
		}),
		"outcome_completed_values": done(&codec.Outcome{Status: strand.StatusCompleted, Result: vraw(t, f, manyValues())}),
		"outcome_completed_string": done(&codec.Outcome{Status: strand.StatusCompleted, Result: vraw(t, f, "héllo")}),
		"outcome_completed_float":  done(&codec.Outcome{Status: strand.StatusCompleted, Result: vraw(t, f, 0.1)}),
		"outcome_completed_null":   done(&codec.Outcome{Status: strand.StatusCompleted}),
		"outcome_items":            done(&codec.Outcome{Status: strand.StatusCompleted, Func: "count", Queue: vq, Items: 3}),
		"outcome_items_failed": done(&codec.Outcome{
			Status: strand.StatusFailed, Func: "count", Queue: vq, Items: 2,
			Error: &codec.ErrorInfo{Kind: string(strand.ErrFailed), Message: "count: boom after 2"},
		}),
		"outcome_dead": done(&codec.Outcome{
			Status: strand.StatusDead, Func: "fail", Queue: vq, Attempt: 3,
			Error: &codec.ErrorInfo{Kind: string(strand.ErrFailed), Message: "fail: boom"},
		}),
	}
	for _, fl := range failures {
		st := strand.StatusFailed
		if fl.kind == string(strand.ErrCancelled) {
			st = strand.StatusCancelled // a worker's outcome for a running task that was cancelled
		}
		out["outcome_failed_"+fl.name] = done(&codec.Outcome{
			Status: st, Func: fl.fn, Queue: vq, Error: &codec.ErrorInfo{Kind: fl.kind, Message: fl.msg},
		})
	}
	return out
}

// cancellationVectors are c.<queue>.<id> records: the one a canceller
// writes, and one with other content, which must read as cancelled all the same.
func cancellationVectors(t testing.TB, f codec.Format) map[string]*codec.Outcome {
	return map[string]*codec.Outcome{
		"cancellation": {
			Status: strand.StatusCancelled, Func: "sleep", Queue: vq, Created: vtime, Meta: map[string]string{"user": "ann"},
			Error:    &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: "sleep: cancelled by caller"},
			Finished: vtime + 500,
		},
		"cancellation_forged": {Status: strand.StatusCompleted, Result: vraw(t, f, 5), Finished: vtime + 500},
	}
}

// readsAs is what a reader makes of a cancellation record (broker.DecodeOutcome).
func readsAs(o codec.Outcome) *codec.Outcome {
	o.Status, o.Result = strand.StatusCancelled, nil
	if o.Error == nil || o.Error.Kind != string(strand.ErrCancelled) {
		o.Error = &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: "cancelled by caller"}
	}
	if o.Queue == "" {
		o.Queue = vq
	}
	return &o
}

func ext(f codec.Format) string {
	if f == codec.JSON {
		return "json"
	}
	return "msgpack"
}

// buildVectors makes every vector from the codec.
func buildVectors(t testing.TB) []vector {
	var vs []vector
	add := func(v vector, f codec.Format) {
		v.Format = ext(f)
		v.File = v.Name + "." + v.Format
		v.Name += "_" + v.Format
		vs = append(vs, v)
	}
	marshal := func(f codec.Format, v any) []byte {
		b, err := f.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		ct := f.ContentType()
		for name, e := range envelopeVectors(t, f) {
			b, err := codec.EncodeEnvelope(f, e)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			q := e.Queue
			if q == "" {
				q = vq
			}
			v := vector{Name: name, Kind: "envelope", Subject: "strand.t." + q + "." + e.ID, data: b,
				Headers: map[string]string{codec.HeaderContentType: ct, codec.HeaderFunc: e.Func, "Nats-TTL": "336h0m0s"}}
			switch name {
			case "envelope_null_args":
				v.Note = "args nil (absent, nil and [] all mean no arguments); no queue in the envelope: the subject's counts"
			case "envelope_v1":
				v.Note = "a version 1 envelope: same fields, still read by version 2 workers"
			case "envelope_every_field":
				v.Headers["Strand-Own-Id"] = "1"
				v.Headers[codec.HeaderTrace] = e.Trace
			}
			add(v, f)
		}
		for name, s := range stateVectors() {
			add(vector{Name: name, Kind: "state", Subject: "$KV.STRAND.s." + vq + "." + vid, data: marshal(f, s),
				Headers: map[string]string{codec.HeaderContentType: ct}}, f)
		}
		for name, o := range outcomeVectors(t, f) {
			add(vector{Name: name, Kind: "outcome", Subject: "$KV.STRAND.r." + vq + "." + vid, data: marshal(f, o),
				Headers: map[string]string{codec.HeaderContentType: ct}}, f)
		}
		for name, o := range cancellationVectors(t, f) {
			ra := marshal(f, readsAs(*o))
			v := vector{Name: name, Kind: "cancellation", Subject: "$KV.STRAND.c." + vq + "." + vid, data: marshal(f, o),
				Headers: map[string]string{codec.HeaderContentType: ct}, ReadsAs: jsonValue(t, f, ra)}
			if name == "cancellation_forged" {
				v.Note = "a c. record always reads as cancelled, whatever it holds"
			}
			add(v, f)
		}
		items := []any{0, "two", map[string]any{"n": 3, "sq": 9}, 2.5, nil}
		for n, it := range items {
			add(vector{Name: fmt.Sprintf("item_%d", n), Kind: "item", Subject: "strand.items." + vq + "." + vid,
				data:    vraw(t, f, it),
				Headers: map[string]string{codec.HeaderContentType: ct, "Strand-Item": fmt.Sprint(n), "Strand-Attempt": "1"}}, f)
		}
		add(vector{Name: "items_end", Kind: "items_end", Subject: "strand.items." + vq + "." + vid, data: []byte{},
			Headers: map[string]string{codec.HeaderContentType: ct, "Strand-End": "5", "Strand-Attempt": "1"},
			Note:    "the end marker: empty payload, Strand-End = the count of items before it"}, f)
		add(vector{Name: "items_end_failed", Kind: "items_end", Subject: "strand.items." + vq + "." + vid, data: []byte{},
			Headers: map[string]string{codec.HeaderContentType: ct, "Strand-End": "2", "Strand-Attempt": "1",
				"Strand-Error-Kind": string(strand.ErrFailed), "Strand-Error": "count: boom after 2"},
			Note: "the end marker of a task that failed after 2 items"}, f)
		w := &codec.Worker{ID: "vm-1234-abcd", Host: "vm", PID: 1234, Queues: []string{"default", "emails"},
			Functions: []string{"add", "echo"}, Concurrency: 16, InFlight: 2, Started: vtime, Beat: vtime + 5000, Version: "dev"}
		wb := marshal(f, w)
		if f == codec.Msgpack {
			var err error
			if wb, err = codec.EncodeWorker(w); err != nil {
				t.Fatal(err)
			}
		}
		add(vector{Name: "worker", Kind: "worker", Subject: "$KV.STRAND_WORKERS." + w.ID, data: wb,
			Note: "workers write msgpack; a worker in another language may write JSON"}, f)
	}
	for i := range vs {
		vs[i].Value = jsonValue(t, codec.Sniff(vs[i].data), vs[i].data)
		if vs[i].Kind == "item" {
			f, _ := codec.ParseContentType(vs[i].Headers[codec.HeaderContentType])
			vs[i].Value = jsonValue(t, f, vs[i].data)
		}
	}
	slices.SortFunc(vs, func(a, b vector) int { return strings.Compare(a.Name, b.Name) })
	return vs
}

// jsonValue is the JSON value that b (in format f) means; an empty b means null.
func jsonValue(t testing.TB, f codec.Format, b []byte) json.RawMessage {
	t.Helper()
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if f == codec.Msgpack {
		v, err := codec.ToAny(f, b)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := integralFloat(v, "$"); ok {
			// JSON cannot tell 2.0 from 2: a vector must not depend on it.
			t.Fatalf("vector value has an integral float at %s", p)
		}
	}
	j, err := codec.ToJSON(f, b)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func integralFloat(v any, path string) (string, bool) {
	switch x := v.(type) {
	case float64:
		return path, x == math.Trunc(x) && math.Abs(x) < 1e15
	case float32:
		return path, float64(x) == math.Trunc(float64(x))
	case []any:
		for i, e := range x {
			if p, ok := integralFloat(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case map[any]any:
		for k, e := range x {
			if p, ok := integralFloat(e, fmt.Sprintf("%s.%v", path, k)); ok {
				return p, true
			}
		}
	}
	return "", false
}

const vectorsComment = "strand wire test vectors, generated from the Go codec by `go test ./internal/codec -run Vectors -update`; " +
	"see README.md. Each vector: the bytes in `file`, the JSON value they mean in `value`."

// TestVectors checks testdata/vectors against the codec: each file holds
// exactly what the codec writes, decodes to the record it was made from,
// and the index states the values the files mean. With -update it writes them.
func TestVectors(t *testing.T) {
	vs := buildVectors(t)
	idx := vectorIndex{Protocol: codec.Version, Comment: vectorsComment, Vectors: vs}
	ib, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	ib = append(ib, '\n')
	if *update {
		old, _ := filepath.Glob(filepath.Join(vectorsDir, "*.msgpack"))
		oldJSON, _ := filepath.Glob(filepath.Join(vectorsDir, "*.json"))
		for _, p := range append(old, oldJSON...) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(vectorsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if err := os.WriteFile(filepath.Join(vectorsDir, v.File), v.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(vectorsDir, "vectors.json"), ib, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(vectorsDir, "vectors.json"))
	if err != nil {
		t.Fatalf("%v (run go test ./internal/codec -run Vectors -update)", err)
	}
	if !bytes.Equal(got, ib) {
		t.Errorf("%s/vectors.json differs from what the codec makes: run go test ./internal/codec -run Vectors -update", vectorsDir)
	}
	files, _ := filepath.Glob(filepath.Join(vectorsDir, "*.*"))
	known := map[string]bool{"vectors.json": true, "README.md": true}
	for _, v := range vs {
		known[v.File] = true
	}
	for _, p := range files {
		if !known[filepath.Base(p)] {
			t.Errorf("%s: a file no vector names", p)
		}
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(vectorsDir, v.File))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, v.data) {
				t.Fatalf("%s differs from what the codec writes:\n got % x\nwant % x", v.File, b, v.data)
			}
			checkVectorDecodes(t, v, b)
		})
	}
}

// checkVectorDecodes decodes a vector's bytes with the codec, as a worker
// or reader does, and encodes the result again: the same bytes must come back.
func checkVectorDecodes(t *testing.T, v vector, b []byte) {
	f := codec.Sniff(b) // records are told apart by their first byte
	if ct, ok := v.Headers[codec.HeaderContentType]; ok {
		var err error
		if f, err = codec.ParseContentType(ct); err != nil {
			t.Fatal(err)
		}
	}
	var again []byte
	switch v.Kind {
	case "envelope":
		e, err := codec.DecodeEnvelope(f, b)
		if err != nil {
			t.Fatal(err)
		}
		again, err = codec.EncodeEnvelope(f, e)
		if err != nil {
			t.Fatal(err)
		}
	case "state":
		s, err := codec.DecodeState(b)
		if err != nil {
			t.Fatal(err)
		}
		again = enc(t, f, s)
	case "outcome", "cancellation":
		o, of, err := codec.DecodeOutcome(b)
		if err != nil {
			t.Fatal(err)
		}
		if of != f {
			t.Fatalf("outcome sniffed as %s, want %s", of, f)
		}
		again = enc(t, f, o)
	case "worker":
		w, err := codec.DecodeWorker(b)
		if err != nil {
			t.Fatal(err)
		}
		again = enc(t, f, w)
	case "item":
		var x any
		if err := codec.DecodeValue(f, b, &x, false); err != nil {
			t.Fatal(err)
		}
		again = b
	case "items_end":
		if len(b) != 0 {
			t.Fatalf("end marker with %d bytes", len(b))
		}
		again = b
	default:
		t.Fatalf("kind %q", v.Kind)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("decoded and encoded again:\n got % x\nwant % x", again, b)
	}
}
