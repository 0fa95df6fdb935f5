package codec_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Regression tests for codec defects found while writing the tests.

// Raw.IsNil once trimmed ASCII white space, so the one-byte msgpack
// integers 9-13 and 32 read as nil (a msgpack add(32, 1) failed as bad_args).
func TestIsNilFixint(t *testing.T) {
	t.Parallel()
	for _, n := range []int{9, 10, 11, 12, 13, 32} {
		if r := enc(t, codec.Msgpack, n); r.IsNil() {
			t.Errorf("msgpack %d (%x) IsNil", n, []byte(r))
		}
	}
}

// noPanic runs fn and fails the test if it panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
		}
	}()
	fn()
}

// ToAny (and Describe, ToJSON) panicked on a msgpack map whose key is an
// array or a map: the untyped map decoder hashed an unhashable key.
func TestToAnyUnhashableKey(t *testing.T) {
	t.Parallel()
	for _, r := range []codec.Raw{
		{0x81, 0x91, 0x01, 0x02},             // {[1]: 2}
		{0x81, 0x80, 0x01},                   // {{}: 1}
		{0x81, 0xc4, 0x01, 'a', 0x01},        // {bin "a": 1}
		{0x92, 0x01, 0x81, 0x81, 0x01, 0x02}, // [1, {{1: 2}: ...}] (truncated after the key)
		{0x91, 0x81, 0x90, 0xc0},             // [{[]: nil}]
		{0x82, 0xa1, 'a', 0x01, 0x91, 0x01, 0x02},
	} {
		noPanic(t, "ToAny", func() {
			v, err := codec.ToAny(codec.Msgpack, r)
			if err == nil {
				t.Errorf("ToAny(%x) = %#v, want an error", []byte(r), v)
			}
		})
		noPanic(t, "Describe", func() {
			if got := codec.Describe(codec.Msgpack, r); got != "undecodable value" {
				t.Errorf("Describe(%x) = %q", []byte(r), got)
			}
		})
		noPanic(t, "ToJSON", func() {
			if _, err := codec.ToJSON(codec.Msgpack, r); err == nil {
				t.Errorf("ToJSON(%x) did not fail", []byte(r))
			}
		})
	}
	_, err := codec.ToAny(codec.Msgpack, codec.Raw{0x81, 0x91, 0x01, 0x02})
	if !errors.Is(err, strand.ErrMalformed) || !strings.Contains(err.Error(), "map key of type []interface {} is not supported") {
		t.Errorf("ToAny({[1]: 2}): %v", err)
	}
	// Hashable keys of every kind still decode.
	r := codec.Raw{0x85, 0xc0, 0x01, 0xc3, 0x02, 0x07, 0x03, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x04, 0xa1, 'a', 0x05}
	want := map[any]any{nil: int8(1), true: int8(2), int8(7): int8(3), 1.5: int8(4), "a": int8(5)}
	if got := toAny(t, codec.Msgpack, r); !reflect.DeepEqual(got, want) {
		t.Errorf("ToAny(%x) = %#v, want %#v", []byte(r), got, want)
	}
}

// Validate sniffed kwargs as if they were a record, so the msgpack integer
// 123 ('{') passed as a map. EncodeEnvelope and DecodeEnvelope know the
// format and check it.
func TestKwargsNotMapRejected(t *testing.T) {
	t.Parallel()
	for _, n := range []int{123, 32, 10, 9, 13} {
		kw := enc(t, codec.Msgpack, n)
		e := &codec.Envelope{V: 1, ID: "a", Func: "f", Kwargs: kw}
		if _, err := codec.EncodeEnvelope(codec.Msgpack, e); !errors.Is(err, strand.ErrMalformed) {
			t.Errorf("msgpack kwargs %d: EncodeEnvelope error %v, want ErrMalformed", n, err)
		}
		// The same envelope, encoded by hand, does not decode either.
		b := append([]byte("\x84\xa1v\x01\xa2id\xa1a\xa4func\xa1f\xa6kwargs"), kw...)
		if _, err := codec.DecodeEnvelope(codec.Msgpack, b); !errors.Is(err, strand.ErrMalformed) {
			t.Errorf("msgpack kwargs %d: DecodeEnvelope error %v, want ErrMalformed", n, err)
		}
	}
	for _, kw := range []string{"123", `"{"`, "[{}]", "true"} {
		b := []byte(`{"v":1,"id":"a","func":"f","kwargs":` + kw + `}`)
		if _, err := codec.DecodeEnvelope(codec.JSON, b); !errors.Is(err, strand.ErrMalformed) {
			t.Errorf("JSON kwargs %s: DecodeEnvelope error %v, want ErrMalformed", kw, err)
		}
	}
	for _, f := range formats {
		for _, kw := range []codec.Raw{nil, enc(t, f, nil), enc(t, f, map[string]any{}), enc(t, f, map[string]int{"a": 1})} {
			e := &codec.Envelope{V: 1, ID: "a", Func: "f", Kwargs: kw}
			b, err := codec.EncodeEnvelope(f, e)
			if err != nil {
				t.Errorf("%s kwargs %x: %v", f, []byte(kw), err)
				continue
			}
			if _, err := codec.DecodeEnvelope(f, b); err != nil {
				t.Errorf("%s kwargs %x: decode: %v", f, []byte(kw), err)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("%s kwargs %x: Validate: %v", f, []byte(kw), err)
			}
		}
	}
	big := enc(t, codec.Msgpack, map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8,
		"i": 9, "j": 10, "k": 11, "l": 12, "m": 13, "n": 14, "o": 15, "p": 16}) // map16
	if _, err := codec.EncodeEnvelope(codec.Msgpack, &codec.Envelope{V: 1, ID: "a", Func: "f", Kwargs: big}); err != nil {
		t.Errorf("map16 kwargs: %v", err)
	}
	// Validate, without a format, still refuses what is plainly not a map.
	for _, kw := range []codec.Raw{{0x01}, {0x20}, {0x91, 0x01}, codec.Raw("[1]"), codec.Raw("3")} {
		if err := (&codec.Envelope{V: 1, ID: "a", Func: "f", Kwargs: kw}).Validate(); !errors.Is(err, strand.ErrMalformed) {
			t.Errorf("Validate with kwargs %x: %v", []byte(kw), err)
		}
	}
}

// msgpack v5 decoders keep recording bytes after a DecodeRaw that fails
// midway, and Reset does not stop them; codec used to pool its decoders.
// Decoding after failures must give the same results as before them.
func TestDecodeAfterFailure(t *testing.T) {
	t.Parallel()
	good, err := codec.EncodeEnvelope(codec.Msgpack, fullEnvelope(t, codec.Msgpack))
	if err != nil {
		t.Fatal(err)
	}
	want, err := codec.DecodeEnvelope(codec.Msgpack, good)
	if err != nil {
		t.Fatal(err)
	}
	// An envelope cut inside its args: DecodeRaw fails halfway through.
	bad := append([]byte("\x82\xa1v\x01\xa4args\x91\x93\x01\x02"), 0xa5, 'a')
	for i := 0; i < 100; i++ {
		if _, err := codec.DecodeEnvelope(codec.Msgpack, bad); !errors.Is(err, strand.ErrMalformed) {
			t.Fatalf("truncated envelope: %v", err)
		}
		var o codec.Outcome
		if err := codec.Msgpack.Unmarshal([]byte("\x81\xa6result\x92\x01"), &o); err == nil {
			t.Fatal("truncated outcome decoded")
		}
		got, err := codec.DecodeEnvelope(codec.Msgpack, good)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d failures:\n got %+v\nwant %+v", i+1, got, want)
		}
	}
}

// A length prefix used to size an allocation before anything was read: a
// 5-byte msgpack map claiming 2^31 entries made ToAny allocate until the
// fuzzer (or the worker) was killed.
func TestHugeLengthPrefixes(t *testing.T) {
	t.Parallel()
	deep := bytes.Repeat([]byte{0x91}, 20000)
	deep = append(deep, 0x01)
	values := map[string]codec.Raw{
		"map32":       {0xdf, 0x7f, 0xff, 0xff, 0xff},
		"map32 max":   {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01},
		"map16":       {0xde, 0xff, 0xff},
		"array32":     {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		"nested":      {0x94, 0xdd, 0x00, 0x0f, 0x42, 0x40, 0xdd, 0x00, 0x0f, 0x42, 0x40},
		"str32":       {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"bin32":       {0xc6, 0x7f, 0xff, 0xff, 0xff},
		"ext32":       {0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01},
		"in a map":    {0x81, 0xa1, 'a', 0xdf, 0x7f, 0xff, 0xff, 0xff},
		"deep":        deep,
		"fixext cut":  {0xd8, 0x01, 0x00},
		"never used":  {0xc1},
		"cut length":  {0xdd, 0x00},
		"cut in map":  {0x82, 0x01},
		"empty input": {},
	}
	for name, r := range values {
		start := time.Now()
		noPanic(t, name, func() {
			if len(r) > 0 {
				if v, err := codec.ToAny(codec.Msgpack, r); err == nil {
					t.Errorf("%s: ToAny = %T, want an error", name, v)
				}
			}
			var a any
			if err := codec.DecodeValue(codec.Msgpack, r, &a, false); err == nil {
				t.Errorf("%s: DecodeValue(any) did not fail", name)
			}
			var m map[string]any
			if err := codec.DecodeValue(codec.Msgpack, r, &m, false); err == nil {
				t.Errorf("%s: DecodeValue(map) did not fail", name)
			}
			o := append([]byte("\x82\xa6status\xa9completed\xa6result"), r...)
			if _, _, err := codec.DecodeOutcome(o); !errors.Is(err, strand.ErrMalformed) {
				t.Errorf("%s: DecodeOutcome: %v", name, err)
			}
			e := append([]byte("\x84\xa1v\x01\xa2id\xa1a\xa4func\xa1f\xa4meta"), r...)
			if _, err := codec.DecodeEnvelope(codec.Msgpack, e); !errors.Is(err, strand.ErrMalformed) {
				t.Errorf("%s: DecodeEnvelope: %v", name, err)
			}
		})
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	// Nesting up to the limit still decodes, as encoding/json allows.
	ok := append(bytes.Repeat([]byte{0x91}, 9999), 0x01)
	if _, err := codec.ToAny(codec.Msgpack, ok); err != nil {
		t.Errorf("9999 nested arrays: %v", err)
	}
	ok = []byte(strings.Repeat("[", 9999) + "1" + strings.Repeat("]", 9999))
	if _, err := codec.ToAny(codec.JSON, ok); err != nil {
		t.Errorf("9999 nested JSON arrays: %v", err)
	}
}

// panicky panics when msgpack decodes into it.
type panicky struct{}

func (*panicky) UnmarshalMsgpack([]byte) error { panic("boom") }

// A panic inside the msgpack library comes back as ErrMalformed.
func TestDecodePanicIsMalformed(t *testing.T) {
	t.Parallel()
	for _, f := range formats {
		noPanic(t, "DecodeValue", func() {
			var p panicky
			err := codec.DecodeValue(f, enc(t, f, 1), &p, false)
			if !errors.Is(err, strand.ErrMalformed) || !strings.Contains(err.Error(), "boom") {
				t.Errorf("%s: DecodeValue into a panicking type: %v", f, err)
			}
		})
	}
}

// ToAny's integers have the width of their encoding, as its doc says.
func TestToAnyIntegerTypes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    codec.Format
		r    codec.Raw
		want any
	}{
		{codec.Msgpack, codec.Raw{0x03}, int8(3)},
		{codec.Msgpack, codec.Raw{0xcc, 0xc8}, uint8(200)},
		{codec.Msgpack, codec.Raw{0xd1, 0x01, 0x00}, int16(256)},
		{codec.Msgpack, codec.Raw{0xcf, 0, 0, 0, 0, 0, 0, 0, 1}, uint64(1)},
		{codec.JSON, codec.Raw("3"), int8(3)},
		{codec.JSON, codec.Raw("70000"), uint32(70000)},
		{codec.JSON, codec.Raw("-70000"), int32(-70000)},
		{codec.JSON, codec.Raw("1.5"), 1.5},
	} {
		if got := toAny(t, c.f, c.r); got != c.want {
			t.Errorf("ToAny(%s, %x) = %#v, want %#v", c.f, []byte(c.r), got, c.want)
		}
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for _, f := range formats {
		data, err := codec.EncodeEnvelope(f, fullEnvelope(b, f))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.DecodeEnvelope(f, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
