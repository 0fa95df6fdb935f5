package codec_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// sameRaw reports whether two encoded values in f are the same value: equal
// bytes, both nil, or equal once decoded (JSON is re-encoded compactly).
func sameRaw(f codec.Format, a, b codec.Raw) bool {
	if bytes.Equal(a, b) || (a.IsNil() && b.IsNil()) {
		return true
	}
	va, errA := codec.ToAny(f, a)
	vb, errB := codec.ToAny(f, b)
	if errA != nil || errB != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func sameEnvelope(f codec.Format, a, b *codec.Envelope) bool {
	if a.V != b.V || a.ID != b.ID || a.Func != b.Func || a.Queue != b.Queue || a.Created != b.Created ||
		a.Deadline != b.Deadline || a.TimeoutMS != b.TimeoutMS || a.MaxAttempts != b.MaxAttempts ||
		a.ResultTTLMS != b.ResultTTLMS || a.Trace != b.Trace || len(a.Args) != len(b.Args) ||
		!sameRaw(f, a.Kwargs, b.Kwargs) {
		return false
	}
	if len(a.Meta) != 0 || len(b.Meta) != 0 { // nil and {} are the same
		if !reflect.DeepEqual(a.Meta, b.Meta) {
			return false
		}
	}
	for i := range a.Args {
		if !sameRaw(f, a.Args[i], b.Args[i]) {
			return false
		}
	}
	return true
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, form := range formats {
		for _, e := range []*codec.Envelope{
			{V: 1, ID: "a", Func: "f"},
			{V: 1, ID: "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c", Func: "add", Args: []codec.Raw{enc(f, form, 2), enc(f, form, 3)}, Queue: "default", Created: 1767225600000},
			fullEnvelope(f, form),
		} {
			b, err := codec.EncodeEnvelope(form, e)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "{}", "null", "[]", `{"v":1}`, `{"v":1,"id":"a","func":"f","args":[1,{"a":[null]}],"kwargs":{}}`,
		`{"v":2,"id":"a","func":"f"}`, `{"v":1,"id":"a.b","func":"f"}`, `{"v":"1","id":"a","func":"f"}`,
		"\x83\xa1v\x01\xa2id\xa1a\xa4func\xa1f", "\xc1", "\x80", "\x9d\x01", "\xde\xff\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, form := range formats {
			e, err := codec.DecodeEnvelope(form, b)
			if err != nil {
				if !errors.Is(err, strand.ErrMalformed) {
					t.Fatalf("%s: error %v is not ErrMalformed", form, err)
				}
				continue
			}
			b2, err := codec.EncodeEnvelope(form, e)
			if err != nil {
				t.Fatalf("%s: decoded %+v but cannot encode it: %v", form, e, err)
			}
			e2, err := codec.DecodeEnvelope(form, b2)
			if err != nil {
				t.Fatalf("%s: re-encoded %q does not decode: %v", form, b2, err)
			}
			if !sameEnvelope(form, e, e2) {
				t.Fatalf("%s: round trip changed the envelope:\n%+v\n%+v", form, e, e2)
			}
			// What a worker does next with the values must not panic either.
			for _, a := range append([]codec.Raw{e.Kwargs}, e.Args...) {
				codec.Describe(form, a)
				_, _ = codec.ToJSON(form, a)
			}
		}
	})
}

func FuzzDecodeOutcome(f *testing.F) {
	for _, form := range formats {
		for _, o := range []*codec.Outcome{
			{Status: strand.StatusCompleted, Result: enc(f, form, 5), Attempt: 1, Started: 1767225600100, Finished: 1767225600150, Worker: "w1"},
			{Status: strand.StatusFailed, Error: &codec.ErrorInfo{Kind: string(strand.ErrPanic), Message: "boom"}},
			{Status: strand.StatusCancelled, Error: &codec.ErrorInfo{Kind: string(strand.ErrCancelled), Message: "cancelled by caller"}},
			{Status: strand.StatusDead, Items: 3, Result: enc(f, form, map[string]any{"a": []any{1, nil}})},
		} {
			f.Add([]byte(enc(f, form, o)))
		}
	}
	for _, s := range []string{"", "{}", `{"status":"completed"}`, `{"status":"running"}`, "\x81\xa6status\xa4dead", "\xc1", "  {",
		"\x82\xa6status\xa9completed\xa6result\xdf\x7f\xff\xff\xff", // a result claiming 2^31 entries
		"\x82\xa6status\xa9completed\xa6result\x81\x91\x01\x02",     // a result keyed by an array
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, form, err := codec.DecodeOutcome(b)
		if err != nil {
			if !errors.Is(err, strand.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if !o.Status.Terminal() {
			t.Fatalf("decoded a non-terminal outcome %+v", o)
		}
		b2, err := form.Marshal(o)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", o, err)
		}
		o2, form2, err := codec.DecodeOutcome(b2)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", b2, err)
		}
		if form2 != form {
			t.Fatalf("format changed from %s to %s", form, form2)
		}
		if o.Status != o2.Status || !reflect.DeepEqual(o.Error, o2.Error) || o.Attempt != o2.Attempt ||
			o.Started != o2.Started || o.Finished != o2.Finished || o.Worker != o2.Worker || o.Items != o2.Items ||
			!sameRaw(form, o.Result, o2.Result) {
			t.Fatalf("round trip changed the outcome:\n%+v\n%+v", o, o2)
		}
		codec.Describe(form, o.Result)
		_, _ = codec.ToJSON(form, o.Result)
	})
}
