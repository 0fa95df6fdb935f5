package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

var formats = []codec.Format{codec.Msgpack, codec.JSON}

// enc encodes v in f or fails the test.
func enc(t testing.TB, f codec.Format, v any) codec.Raw {
	t.Helper()
	b, err := f.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v as %s: %v", v, f, err)
	}
	return b
}

// toAny decodes r or fails the test.
func toAny(t testing.TB, f codec.Format, r codec.Raw) any {
	t.Helper()
	v, err := codec.ToAny(f, r)
	if err != nil {
		t.Fatalf("ToAny(%s, %x): %v", f, []byte(r), err)
	}
	return v
}

// plain maps decoded values to comparable ones: every integer width to
// int64, float32 to float64, map[any]any to map[string]any.
func plain(v any) any {
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
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				ks = "?" + reflect.TypeOf(k).String()
			}
			out[ks] = plain(e)
		}
		return out
	}
	return v
}

// normNil returns args with every nil value as an empty Raw.
func normNil(args []codec.Raw) []codec.Raw {
	if args == nil {
		return nil
	}
	out := make([]codec.Raw, len(args))
	for i, a := range args {
		if !a.IsNil() {
			out[i] = a
		}
	}
	return out
}

func fullEnvelope(t testing.TB, f codec.Format) *codec.Envelope {
	args := []any{2, "x", []any{1, 2}, map[string]any{"a": 1}, nil, 1.5, true, -7, int64(1) << 40}
	e := &codec.Envelope{
		V:           codec.Version,
		ID:          "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c",
		Func:        "report.render",
		Kwargs:      enc(t, f, map[string]any{"scale": 10, "name": "ann", "tags": []string{"a", "b"}}),
		Queue:       "high",
		Created:     1767225600000,
		Deadline:    1767229200000,
		TimeoutMS:   30000,
		MaxAttempts: 5,
		ResultTTLMS: 3600000,
		Meta:        map[string]string{"user": "ann", "tenant": "t1"},
		Trace:       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	for _, a := range args {
		e.Args = append(e.Args, enc(t, f, a))
	}
	return e
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		cases := []struct {
			name string
			env  *codec.Envelope
		}{
			{"minimal", &codec.Envelope{V: 1, ID: "a", Func: "f"}},
			{"empty args", &codec.Envelope{V: 1, ID: "a", Func: "f", Args: []codec.Raw{}}},
			{"id with = and 128 bytes", &codec.Envelope{V: 1, ID: strings.Repeat("a=", 64), Func: "f"}},
			{"all options", fullEnvelope(t, f)},
		}
		for _, c := range cases {
			t.Run(f.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				b, err := codec.EncodeEnvelope(f, c.env)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if got := codec.Sniff(b); got != f {
					t.Errorf("Sniff = %s, want %s", got, f)
				}
				got, err := codec.DecodeEnvelope(f, b)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				want := *c.env
				if len(want.Args) == 0 && len(got.Args) == 0 {
					want.Args, got.Args = nil, nil // nil and [] are the same on the wire
				}
				// A msgpack nil decodes as an empty Raw: the same value.
				want.Args = normNil(want.Args)
				got.Args = normNil(got.Args)
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
				}
				for i := range want.Args {
					if g, w := plain(toAny(t, f, got.Args[i])), plain(toAny(t, f, want.Args[i])); !reflect.DeepEqual(g, w) {
						t.Errorf("arg %d = %#v, want %#v", i, g, w)
					}
				}
			})
		}
	}
}

// TestEnvelopeValues checks what a decoded envelope holds, independently of
// how it was encoded.
func TestEnvelopeValues(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			b, err := codec.EncodeEnvelope(f, fullEnvelope(t, f))
			if err != nil {
				t.Fatal(err)
			}
			e, err := codec.DecodeEnvelope(f, b)
			if err != nil {
				t.Fatal(err)
			}
			var args []any
			for _, a := range e.Args {
				args = append(args, plain(toAny(t, f, a)))
			}
			wantArgs := []any{int64(2), "x", []any{int64(1), int64(2)}, map[string]any{"a": int64(1)}, nil, 1.5, true, int64(-7), int64(1) << 40}
			if !reflect.DeepEqual(args, wantArgs) {
				t.Errorf("args = %#v, want %#v", args, wantArgs)
			}
			kw := plain(toAny(t, f, e.Kwargs))
			wantKw := map[string]any{"scale": int64(10), "name": "ann", "tags": []any{"a", "b"}}
			if !reflect.DeepEqual(kw, wantKw) {
				t.Errorf("kwargs = %#v, want %#v", kw, wantKw)
			}
			if e.Meta["user"] != "ann" || e.Meta["tenant"] != "t1" || len(e.Meta) != 2 {
				t.Errorf("meta = %v", e.Meta)
			}
		})
	}
}

func TestEnvelopeUnknownKeysIgnored(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			b := enc(t, f, map[string]any{
				"v": 1, "id": "abc", "func": "add", "args": []any{2, 3},
				"future_field": map[string]any{"x": []any{1, "y", nil}},
				"future_level": 7,
				"":             "empty key",
			})
			e, err := codec.DecodeEnvelope(f, b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if e.V != 1 || e.ID != "abc" || e.Func != "add" || len(e.Args) != 2 {
				t.Errorf("decoded %+v", e)
			}
		})
	}
}

func TestEnvelopeMalformed(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	valid := func(kv ...any) m {
		x := m{"v": 1, "id": "abc", "func": "add", "args": []any{2, 3}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(x, kv[i].(string))
			} else {
				x[kv[i].(string)] = kv[i+1]
			}
		}
		return x
	}
	cases := []struct {
		name string
		rec  m      // encoded in the format under test
		raw  []byte // or these bytes as they are
	}{
		{name: "empty bytes", raw: []byte{}},
		{name: "nil bytes", raw: nil},
		{name: "garbage", raw: []byte("\xc1\xff\x00garbage{")},
		{name: "truncated", raw: []byte{0x84, 0xa1, 'v', 0x01, 0xa2}},
		{name: "not a map", raw: nil, rec: nil},
		{name: "missing v", rec: valid("v", nil)},
		{name: "v zero", rec: valid("v", 0)},
		{name: "v too new", rec: valid("v", codec.Version+1)},
		{name: "v negative", rec: valid("v", -1)},
		{name: "v string", rec: valid("v", "1")},
		{name: "v fraction", rec: valid("v", 1.5)},
		{name: "missing id", rec: valid("id", nil)},
		{name: "empty id", rec: valid("id", "")},
		{name: "id with dot", rec: valid("id", "a.b")},
		{name: "id with space", rec: valid("id", "a b")},
		{name: "id with star", rec: valid("id", "a*")},
		{name: "id with gt", rec: valid("id", "a>")},
		{name: "id not ascii", rec: valid("id", "é")},
		{name: "id too long", rec: valid("id", strings.Repeat("x", codec.MaxIDLen+1))},
		{name: "id number", rec: valid("id", 5)},
		{name: "missing func", rec: valid("func", nil)},
		{name: "empty func", rec: valid("func", "")},
		{name: "func number", rec: valid("func", 5)},
		{name: "kwargs array", rec: valid("kwargs", []any{1})},
		{name: "kwargs number", rec: valid("kwargs", 5)},
		{name: "kwargs string", rec: valid("kwargs", "{a}")},
		{name: "kwargs bool", rec: valid("kwargs", true)},
		{name: "queue with dot", rec: valid("queue", "a.b")},
		{name: "queue with =", rec: valid("queue", "a=b")},
		{name: "queue too long", rec: valid("queue", strings.Repeat("q", 65))},
		{name: "negative timeout_ms", rec: valid("timeout_ms", -1)},
		{name: "negative result_ttl_ms", rec: valid("result_ttl_ms", -1)},
		{name: "negative max_attempts", rec: valid("max_attempts", -1)},
		{name: "timeout_ms string", rec: valid("timeout_ms", "30s")},
		{name: "args number", rec: valid("args", 5)},
		{name: "args map", rec: valid("args", m{"a": 1})},
		{name: "meta value not string", rec: valid("meta", m{"a": 1})},
		{name: "meta not a map", rec: valid("meta", []any{"a"})},
		{name: "created string", rec: valid("created", "2026-01-01")},
	}
	for _, f := range formats {
		for _, c := range cases {
			t.Run(f.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				b := c.raw
				switch {
				case c.rec != nil:
					b = enc(t, f, c.rec)
				case c.name == "not a map":
					b = enc(t, f, []any{1, "abc", "add"})
				}
				e, err := codec.DecodeEnvelope(f, b)
				if err == nil {
					t.Fatalf("decoded %+v from %q, want an error", e, b)
				}
				if !errors.Is(err, strand.ErrMalformed) {
					t.Errorf("error %v does not match strand.ErrMalformed", err)
				}
				if e != nil {
					t.Errorf("envelope %+v returned with an error", e)
				}
			})
		}
	}
}

func TestEncodeEnvelopeValidates(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		for _, e := range []*codec.Envelope{
			{ID: "a", Func: "f"},
			{V: 1, Func: "f"},
			{V: 1, ID: "a"},
			{V: 1, ID: "a.b", Func: "f"},
			{V: 1, ID: "a", Func: "f", Queue: "a b"},
			{V: 1, ID: "a", Func: "f", TimeoutMS: -5},
		} {
			if b, err := codec.EncodeEnvelope(f, e); !errors.Is(err, strand.ErrMalformed) {
				t.Errorf("EncodeEnvelope(%s, %+v) = %q, %v; want ErrMalformed", f, e, b, err)
			}
		}
	}
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{
		"a": true, "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c": true, "A_b-c=": true,
		strings.Repeat("z", 128): true, strings.Repeat("z", 129): false,
		"": false, "a.b": false, "a b": false, "a*": false, "a>": false, "a/b": false, "$a": false,
	}
	for id, ok := range ids {
		if err := codec.ValidID(id); (err == nil) != ok {
			t.Errorf("ValidID(%q) = %v, want ok=%v", id, err, ok)
		} else if err != nil && !errors.Is(err, strand.ErrMalformed) {
			t.Errorf("ValidID(%q) error %v is not ErrMalformed", id, err)
		}
	}
	queues := map[string]bool{
		"default": true, "high-prio_2": true, strings.Repeat("q", 64): true, strings.Repeat("q", 65): false,
		"": false, "a=b": false, "a.b": false, "a b": false, "*": false, ">": false,
	}
	for q, ok := range queues {
		if err := codec.ValidQueue(q); (err == nil) != ok {
			t.Errorf("ValidQueue(%q) = %v, want ok=%v", q, err, ok)
		}
	}
}

func TestParseContentType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ct      string
		want    codec.Format
		wantErr bool
	}{
		{"", codec.Msgpack, false},
		{"application/msgpack", codec.Msgpack, false},
		{"application/x-msgpack", codec.Msgpack, false},
		{"application/vnd.msgpack", codec.Msgpack, false},
		{"application/json", codec.JSON, false},
		{"application/json; charset=utf-8", codec.JSON, false},
		{"Application/JSON", codec.JSON, false},
		{"text/plain", codec.Msgpack, true},
		{"application/xml", codec.Msgpack, true},
		{"application/json; charset", codec.Msgpack, true},
		{";;;", codec.Msgpack, true},
	}
	for _, c := range cases {
		t.Run(c.ct, func(t *testing.T) {
			t.Parallel()
			got, err := codec.ParseContentType(c.ct)
			if c.wantErr {
				if !errors.Is(err, strand.ErrMalformed) {
					t.Errorf("ParseContentType(%q) error = %v, want ErrMalformed", c.ct, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("ParseContentType(%q) = %s, %v; want %s", c.ct, got, err, c.want)
			}
			if ct, err := codec.ParseContentType(got.ContentType()); err != nil || ct != got {
				t.Errorf("ContentType of %s does not parse back: %v", got, err)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		b    []byte
		want codec.Format
	}{
		{"json object", []byte(`{"status":"completed"}`), codec.JSON},
		{"json after white space", []byte(" \t\r\n{}"), codec.JSON},
		{"json array", []byte(`[1]`), codec.JSON},
		{"json string", []byte(`"x"`), codec.JSON},
		{"msgpack fixmap", []byte{0x81, 0xa1, 'a', 0x01}, codec.Msgpack},
		{"msgpack map16", []byte{0xde, 0x00, 0x01, 0xa1, 'a', 0x01}, codec.Msgpack},
		{"msgpack map with { inside", []byte{0x81, 0xa1, '{', 0x7b}, codec.Msgpack},
		{"empty", nil, codec.Msgpack},
		{"only white space", []byte("  "), codec.Msgpack},
	}
	for _, c := range cases {
		if got := codec.Sniff(c.b); got != c.want {
			t.Errorf("%s: Sniff(%q) = %s, want %s", c.name, c.b, got, c.want)
		}
	}
	for _, f := range formats {
		o := &codec.Outcome{Status: strand.StatusCompleted, Result: enc(t, f, 34)}
		if got := codec.Sniff(enc(t, f, o)); got != f {
			t.Errorf("Sniff of a %s outcome = %s", f, got)
		}
	}
}

func TestJSONToMsgpack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want any
	}{
		{`3`, int64(3)},
		{`-3`, int64(-3)},
		{`0`, int64(0)},
		{`9007199254740993`, int64(9007199254740993)}, // 2^53+1: not exact as a float64
		{`9223372036854775807`, int64(9223372036854775807)},
		{`1.5`, 1.5},
		{`2.0`, 2.0},
		{`1e3`, 1000.0},
		{`1E-2`, 0.01},
		{`9223372036854775808`, uint64(9223372036854775808)},   // beyond int64, within uint64: an integer
		{`18446744073709551615`, uint64(18446744073709551615)}, // the largest uint64
		{`18446744073709551616`, 18446744073709551616.0},       // beyond uint64: a float
		{`"x"`, "x"},
		{`null`, nil},
		{`true`, true},
		{`[1, 2.5, "a"]`, []any{int64(1), 2.5, "a"}},
		{`{"i": 1, "f": 0.5, "n": {"j": 2}}`, map[string]any{"i": int64(1), "f": 0.5, "n": map[string]any{"j": int64(2)}}},
	}
	for _, c := range cases {
		m, err := codec.JSONToMsgpack(codec.Raw(c.in))
		if err != nil {
			t.Errorf("JSONToMsgpack(%s): %v", c.in, err)
			continue
		}
		got := toAny(t, codec.Msgpack, m)
		if !reflect.DeepEqual(plain(got), c.want) {
			t.Errorf("JSONToMsgpack(%s) decodes to %#v, want %#v", c.in, got, c.want)
		}
		// Integers must be msgpack integers, fractions msgpack floats.
		if _, isFloat := c.want.(float64); isFloat != (m[0] == 0xca || m[0] == 0xcb) {
			t.Errorf("JSONToMsgpack(%s) = %x: wrong msgpack kind", c.in, []byte(m))
		}
	}
	if _, err := codec.JSONToMsgpack(codec.Raw(`{`)); err == nil {
		t.Error("JSONToMsgpack({) succeeded")
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 50)
	cases := []struct {
		v    any
		want string
	}{
		{"x", `string "x"`},
		{3, "int 3"},
		{-3, "int -3"},
		{int64(1) << 40, "int 1099511627776"},
		{nil, "nil"},
		{true, "bool true"},
		{1.5, "float 1.5"},
		{[]any{1, 2}, "array of 2"},
		{map[string]any{"a": 1}, "map of 1"},
		{long, `string "` + long[:40] + `…"`},
	}
	for _, f := range formats {
		for _, c := range cases {
			if got := codec.Describe(f, enc(t, f, c.v)); got != c.want {
				t.Errorf("Describe(%s, %#v) = %s, want %s", f, c.v, got, c.want)
			}
		}
	}
	if got := codec.Describe(codec.Msgpack, enc(t, codec.Msgpack, []byte("abc"))); got != "bytes of 3" {
		t.Errorf("Describe(bytes) = %s", got)
	}
	if got := codec.Describe(codec.Msgpack, nil); got != "nil" {
		t.Errorf("Describe(absent) = %s", got)
	}
	if got := codec.Describe(codec.JSON, codec.Raw("{")); got != "undecodable value" {
		t.Errorf("Describe(garbage) = %s", got)
	}
}

func TestDecodeOutcome(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			done := &codec.Outcome{
				Status: strand.StatusCompleted, Result: enc(t, f, map[string]any{"sum": 5, "parts": []int{2, 3}}),
				Attempt: 2, Started: 1767225600100, Finished: 1767225600150, Worker: "w1", Items: 3,
			}
			failed := &codec.Outcome{
				Status: strand.StatusFailed, Error: &codec.ErrorInfo{Kind: string(strand.ErrBadArgs), Message: "add: arg 1: want int, got string \"x\""},
				Attempt: 1,
			}
			for _, o := range []*codec.Outcome{done, failed} {
				b := enc(t, f, o)
				got, gf, err := codec.DecodeOutcome(b)
				if err != nil {
					t.Fatalf("DecodeOutcome(%s): %v", b, err)
				}
				if gf != f {
					t.Errorf("format = %s, want %s", gf, f)
				}
				if !reflect.DeepEqual(got, o) {
					t.Errorf("got %+v, want %+v", got, o)
				}
			}
			got, _, _ := codec.DecodeOutcome(enc(t, f, done))
			want := map[string]any{"sum": int64(5), "parts": []any{int64(2), int64(3)}}
			if r := plain(toAny(t, f, got.Result)); !reflect.DeepEqual(r, want) {
				t.Errorf("result = %#v, want %#v", r, want)
			}
			got, _, _ = codec.DecodeOutcome(enc(t, f, failed))
			if err := got.Error.Err(); !errors.Is(err, strand.ErrBadArgs) {
				t.Errorf("Error.Err() = %v, want it to match ErrBadArgs", err)
			}
			for _, bad := range [][]byte{
				enc(t, f, map[string]any{"status": "running"}),
				enc(t, f, map[string]any{"status": "pending"}),
				enc(t, f, map[string]any{"result": 5}),
				enc(t, f, map[string]any{"status": 5}),
				[]byte("\xc1"), []byte("{"), nil,
			} {
				if o, _, err := codec.DecodeOutcome(bad); !errors.Is(err, strand.ErrMalformed) {
					t.Errorf("DecodeOutcome(%q) = %+v, %v; want ErrMalformed", bad, o, err)
				}
			}
		})
	}
}

func TestDecodeState(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			for _, s := range []*codec.State{
				{Status: strand.StatusRunning, Attempt: 1, Worker: "w1", Started: 1767225600100,
					Progress: &codec.Progress{Done: 3, Total: 10, Note: "rows"}},
				{Status: strand.StatusRetrying, Attempt: 1, NextAttempt: 1767225605000,
					LastError: &codec.ErrorInfo{Kind: string(strand.ErrFailed), Message: "db down"}},
			} {
				got, err := codec.DecodeState(enc(t, f, s))
				if err != nil {
					t.Fatalf("DecodeState: %v", err)
				}
				if !reflect.DeepEqual(got, s) {
					t.Errorf("got %+v, want %+v", got, s)
				}
			}
			for _, bad := range [][]byte{enc(t, f, map[string]any{"attempt": 1}), []byte("\xc1"), nil} {
				if s, err := codec.DecodeState(bad); !errors.Is(err, strand.ErrMalformed) {
					t.Errorf("DecodeState(%q) = %+v, %v; want ErrMalformed", bad, s, err)
				}
			}
		})
	}
}

func TestToJSON(t *testing.T) {
	t.Parallel()
	v := map[string]any{"a": []any{1, "x", nil, true, 1.5}, "b": map[string]any{"c": 2}}
	got, err := codec.ToJSON(codec.Msgpack, enc(t, codec.Msgpack, v))
	if err != nil {
		t.Fatal(err)
	}
	var back, want any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("ToJSON gave invalid JSON %s: %v", got, err)
	}
	w, _ := json.Marshal(v)
	_ = json.Unmarshal(w, &want)
	if !reflect.DeepEqual(back, want) {
		t.Errorf("ToJSON = %s, want %s", got, w)
	}

	// Non-string keys are printed.
	got, err = codec.ToJSON(codec.Msgpack, enc(t, codec.Msgpack, map[int]string{1: "x"}))
	if err != nil || string(got) != `{"1":"x"}` {
		t.Errorf("ToJSON(map[int]string) = %s, %v", got, err)
	}
	// JSON passes through; absent is null.
	if got, err := codec.ToJSON(codec.JSON, codec.Raw(`{"a":1}`)); err != nil || string(got) != `{"a":1}` {
		t.Errorf("ToJSON(json) = %s, %v", got, err)
	}
	for _, f := range formats {
		if got, err := codec.ToJSON(f, nil); err != nil || !bytes.Equal(got, []byte("null")) {
			t.Errorf("ToJSON(%s, nil) = %s, %v", f, got, err)
		}
	}
}

func TestRawIsNil(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r    codec.Raw
		want bool
	}{
		{nil, true},
		{codec.Raw{0xc0}, true},
		{codec.Raw("null"), true},
		{codec.Raw(" null "), true},
		{codec.Raw{0x00}, false},
		{codec.Raw{0xa0}, false}, // ""
		{codec.Raw(`""`), false},
		{codec.Raw("0"), false},
		{codec.Raw{0x80}, false}, // {}
	}
	for _, c := range cases {
		if got := c.r.IsNil(); got != c.want {
			t.Errorf("Raw(%x).IsNil() = %v, want %v", []byte(c.r), got, c.want)
		}
	}
}
