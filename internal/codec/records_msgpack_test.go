package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	strand "github.com/strand-run/strand"
)

// libraryMsgpack encodes v as the msgpack library does by reflection, with
// the settings of codec's encoder: what Format.Marshal wrote before records
// were encoded by hand.
func libraryMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomInt is an integer of a random msgpack width, sometimes zero.
func randomInt(r *rand.Rand) int64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return -r.Int64N(33)
	case 2:
		return r.Int64N(128)
	case 3:
		return r.Int64N(1 << 16)
	case 4:
		return -r.Int64N(1 << 31)
	case 5:
		return r.Int64N(1 << 40)
	case 6:
		return math.MinInt64 + r.Int64N(10)
	}
	return math.MaxInt64 - r.Int64N(10)
}

// randomString is a string of a random msgpack width, sometimes empty.
func randomString(r *rand.Rand) string {
	switch n := r.IntN(100); {
	case n < 20:
		return ""
	case n < 30:
		return strings.Repeat("x", 32+r.IntN(224)) // str8
	case n < 35:
		return strings.Repeat("y", 256+r.IntN(1000)) // str16
	case n < 36:
		return strings.Repeat("z", 1<<16+r.IntN(10)) // str32
	}
	return strings.Repeat("a", 1+r.IntN(31)) // fixstr
}

// randomRaw is an encoded value, nil, or empty.
func randomRaw(r *rand.Rand) Raw {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return Raw{}
	case 2:
		return Raw{0xc0}
	case 3:
		return Raw{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0x01, 0xa1, 'x'}
	}
	b, _ := Msgpack.Marshal(randomInt(r))
	return b
}

// randomMeta has at most one entry: a map's order is Go's, not fixed.
func randomMeta(r *rand.Rand) map[string]string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	return map[string]string{randomString(r): randomString(r)}
}

func randomEnvelope(r *rand.Rand) *Envelope {
	e := &Envelope{
		V: int(randomInt(r)), ID: randomString(r), Func: randomString(r), Kwargs: randomRaw(r),
		Queue: randomString(r), Created: randomInt(r), Deadline: randomInt(r), TimeoutMS: randomInt(r),
		MaxAttempts: int(randomInt(r)), ResultTTLMS: randomInt(r), Meta: randomMeta(r), Trace: randomString(r),
	}
	if r.IntN(4) == 0 {
		e.Flow = &FlowRef{ID: randomString(r), Queue: randomString(r)}
		if r.IntN(2) == 0 {
			e.Flow.Step = randomString(r)
		}
	}
	switch n := r.IntN(20) - 2; {
	case n == -2:
	case n == -1:
		e.Args = []Raw{}
	default:
		for range n {
			e.Args = append(e.Args, randomRaw(r))
		}
	}
	return e
}

func randomOutcome(r *rand.Rand) *Outcome {
	o := &Outcome{
		Status: strand.Status(randomString(r)), Func: randomString(r), Queue: randomString(r),
		Created: randomInt(r), Meta: randomMeta(r), Result: randomRaw(r), Attempt: int(randomInt(r)),
		Started: randomInt(r), Finished: randomInt(r), Worker: randomString(r), Items: randomInt(r),
	}
	if r.IntN(2) == 0 {
		o.Error = &ErrorInfo{Kind: randomString(r), Message: randomString(r)}
	}
	return o
}

// TestFastEncodeSameBytes: the records encoded by hand are the bytes the
// library writes for them.
func TestFastEncodeSameBytes(t *testing.T) {
	t.Parallel()
	values := []any{
		(*Envelope)(nil), &Envelope{}, (*Outcome)(nil), &Outcome{},
		&Envelope{V: 2, ID: "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c", Func: "add",
			Args: []Raw{{0x02}, {0x03}}, Queue: "default", Created: 1767225600000},
		&Outcome{Status: strand.StatusFailed, Error: &ErrorInfo{}},
		&Outcome{Status: strand.StatusFailed, Error: &ErrorInfo{Kind: "error", Message: "boom"},
			Task: Raw{0x83, 0xa1, 0x76, 0x02, 0xa2, 0x69, 0x64, 0xa1, 0x78, 0xa4, 0x66, 0x75, 0x6e, 0x63, 0xa1, 0x66}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		values = append(values, randomEnvelope(r), randomOutcome(r))
	}
	for _, v := range values {
		got, err := Msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := libraryMsgpack(t, v); !bytes.Equal(got, want) {
			t.Fatalf("Marshal(%+v):\n got %x\nwant %x", v, got, want)
		}
		// What codec wrote, its hand decoders read, as the library does.
		switch v := v.(type) {
		case *Envelope:
			var byHand, lib Envelope
			if v != nil && (!decodeEnvelopeMsgpack(got, &byHand) || Msgpack.Unmarshal(got, &lib) != nil || !reflect.DeepEqual(byHand, lib)) {
				t.Fatalf("%x: by hand %+v, library %+v", got, byHand, lib)
			}
		case *Outcome:
			var byHand, lib Outcome
			if v != nil && (!decodeOutcomeMsgpack(got, &byHand) || Msgpack.Unmarshal(got, &lib) != nil || !reflect.DeepEqual(byHand, lib)) {
				t.Fatalf("%x: by hand %+v, library %+v", got, byHand, lib)
			}
		}
	}
	// A meta map of many entries: the same entries, in some order.
	meta := map[string]string{"user": "ann", "tenant": "t1", "a": "", "": "b"}
	for _, v := range []any{&Envelope{V: 1, Meta: meta}, &Outcome{Meta: meta}} {
		got, err := Msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(libraryMsgpack(t, v)) {
			t.Fatalf("Marshal(%+v) = %x, not as long as the library's", v, got)
		}
		back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := Msgpack.Unmarshal(got, back); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("Marshal(%+v) decodes to %+v (%v)", v, back, err)
		}
	}
}

// sliceOf reports whether r starts inside b's memory.
func sliceOf(b []byte, r Raw) bool {
	for i := range b {
		if &b[i] == &r[0] {
			return true
		}
	}
	return false
}

// Decoded msgpack Raw values share the input's memory, their capacity
// capped: appending to one copies it rather than overwrite the input.
func TestDecodedRawAliasesInput(t *testing.T) {
	t.Parallel()
	e := &Envelope{V: 2, ID: "a", Func: "f", Args: []Raw{{0x02}, {0x03}}, Kwargs: Raw{0x81, 0xa1, 'k', 0x01}}
	b, err := EncodeEnvelope(Msgpack, e)
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Clone(b)
	got, err := DecodeEnvelope(Msgpack, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append([]Raw{got.Kwargs}, got.Args...) {
		if cap(r) != len(r) {
			t.Errorf("Raw %x has capacity %d", []byte(r), cap(r))
		}
		if !sliceOf(b, r) {
			t.Errorf("Raw %x is not a slice of the input", []byte(r))
		}
		_ = append(r, 0xff, 0xff, 0xff)
	}
	if !bytes.Equal(b, keep) {
		t.Errorf("appending to the decoded values changed the input:\n%x\n%x", b, keep)
	}
}

// FuzzFastDecode: whatever the hand decoders read, they read as the
// library does; what they give up on, the library reads (or refuses).
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		for _, v := range []any{randomEnvelope(r), randomOutcome(r)} {
			b, err := Msgpack.Marshal(v)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) < 1000 { // large inputs slow the fuzzer down
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"\x80", "\xc0", "\x90", "\x92\x01\x02", // empty map, nil, arrays (a struct as an array)
		"\x82\xa1v\x01\xa1v\x02",            // a key twice
		"\x81\xc4\x01v\x01", "\x81\xc0\x01", // a bin key, a nil key
		"\x83\xa1v\xc0\xa2id\xc0\xa4args\xc0",           // nil values
		"\x81\xa1v\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", // a float for an int
		"\x81\xa2id\xc4\x01a", "\x81\xa2id\x01",         // bin and int for a string
		"\x81\xa4args\x93\xc0\x90\x80",         // nil, [] and {} args
		"\x81\xa4args\x80", "\x81\xa4meta\x90", // wrong kinds
		"\x81\xa4meta\x82\xa1a\xc0\xc0\xa1b",                   // nil key and value in meta
		"\x81\xa4meta\x82\xa1a\xa1b\xa1a\xa1c",                 // a meta key twice
		"\x81\xa5error\x82\xa4kind\xa1k\xa4kind\xa1j",          // an error key twice
		"\x81\xa5error\x92\xa1k\xa1m",                          // an error as an array
		"\x82\xa6status\xa9completed\xa5error\xc0",             // no error
		"\x81\xa7unknown\xdc\x00\x02\x81\xa1a\x01\xd4\x01\x02", // an unknown key skipped
		"\x81\xa1v\xcf\xff\xff\xff\xff\xff\xff\xff\xff",        // a uint64 beyond int64
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkMsgpack(b) != nil {
			return // DecodeEnvelope and DecodeOutcome refuse b before either decoder
		}
		var fastE, slowE Envelope
		if decodeEnvelopeMsgpack(b, &fastE) {
			if err := Msgpack.Unmarshal(b, &slowE); err != nil || !reflect.DeepEqual(fastE, slowE) {
				t.Fatalf("envelope %x:\nby hand %#v\nlibrary %#v (%v)", b, fastE, slowE, err)
			}
		}
		var fastO, slowO Outcome
		if decodeOutcomeMsgpack(b, &fastO) {
			if err := Msgpack.Unmarshal(b, &slowO); err != nil || !reflect.DeepEqual(fastO, slowO) {
				t.Fatalf("outcome %x:\nby hand %#v\nlibrary %#v (%v)", b, fastO, slowO, err)
			}
		}
	})
}

// TestHandCodedFields: the records coded by hand have the fields the code
// knows. A field added to one of them must be added to records_msgpack.go,
// its encoder and its decoder, or it would be dropped in msgpack.
func TestHandCodedFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    any
		keys string
	}{
		{Envelope{}, "v id func args kwargs queue created deadline timeout_ms max_attempts result_ttl_ms meta trace flow priority key unique not_before"},
		{Outcome{}, "status func queue created meta result error attempt started finished worker items task"},
		{ErrorInfo{}, "kind message"},
	} {
		typ := reflect.TypeOf(c.v)
		var keys []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("msgpack"), ",")
			keys = append(keys, name)
		}
		if got := strings.Join(keys, " "); got != c.keys {
			t.Errorf("%s has the keys %q; records_msgpack.go codes %q: update it", typ, got, c.keys)
		}
	}
}

// The pooled encoders and decoders serve goroutines at once (run with -race).
func TestConcurrentCoding(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			for range 200 {
				e := randomEnvelope(r)
				e.V, e.ID, e.Func, e.Queue, e.MaxAttempts, e.TimeoutMS, e.ResultTTLMS = 2, "id", "f", "", 0, 0, 0
				e.Kwargs = nil
				b, err := EncodeEnvelope(Msgpack, e)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := DecodeEnvelope(Msgpack, b)
				if err != nil || len(got.Args) != len(e.Args) {
					t.Errorf("%+v: %+v, %v", e, got, err)
					return
				}
				for i, a := range got.Args {
					if v, err := ToAny(Msgpack, a); err != nil || (v == nil) != e.Args[i].IsNil() {
						t.Errorf("arg %x: %v, %v", []byte(a), v, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
