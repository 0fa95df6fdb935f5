package codec_test

import (
	"context"
	"testing"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/registry"
)

// The benchmarks follow one typical task, add(2, 3), through every codec
// step of its life, in both formats:
//
//	producer  Format.Marshal per arg, EncodeEnvelope   BenchmarkEnvelopeEncode
//	worker    DecodeEnvelope                           BenchmarkEnvelopeDecode
//	          the args into the handler's parameters   BenchmarkArgsDecode
//	          Format.Marshal of the result             BenchmarkResultEncode
//	          Format.Marshal of the *Outcome           BenchmarkOutcomeEncode
//	producer  DecodeOutcome                            BenchmarkOutcomeDecode
//	          DecodeValue of the result                BenchmarkResultDecode
//
// and all of them at once (BenchmarkTaskRoundTrip). Run them with
//
//	go test -run XXX -bench . -benchmem ./codec/

const (
	benchID      = "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c"
	benchCreated = 1767225600000
)

// benchEnvelope is add(2, 3) as writer.Submit builds it.
func benchEnvelope(b *testing.B, f codec.Format) *codec.Envelope {
	return &codec.Envelope{
		V: codec.Version, ID: benchID, Func: "add",
		Args:  []codec.Raw{enc(b, f, 2), enc(b, f, 3)},
		Queue: "default", Created: benchCreated,
	}
}

// benchOutcome is add's outcome as a worker writes it (reader.finish).
func benchOutcome(result codec.Raw) *codec.Outcome {
	return &codec.Outcome{
		Status: strand.StatusCompleted, Func: "add", Queue: "default", Created: benchCreated,
		Result: result, Attempt: 1, Started: benchCreated + 12, Finished: benchCreated + 13,
		Worker: "w-3f2d5e6a7b8c",
	}
}

// benchAdd is add, registered as a worker registers it.
func benchAdd(b *testing.B) *handler.Func {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	fn, _ := (*handler.Table)(reg).Lookup("add")
	return fn
}

// eachFormat runs bench as a sub-benchmark per format, reporting allocations.
func eachFormat(b *testing.B, bench func(b *testing.B, f codec.Format)) {
	for _, f := range formats {
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			bench(b, f)
		})
	}
}

func BenchmarkEnvelopeEncode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		e := benchEnvelope(b, f)
		for b.Loop() {
			if _, err := codec.EncodeEnvelope(f, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEnvelopeDecode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		data, err := codec.EncodeEnvelope(f, benchEnvelope(b, f))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := codec.DecodeEnvelope(f, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkArgsDecode makes the codec calls handler.Func.Call makes for
// two int parameters: Raw.IsNil and ToAny per arg (registry.decodeInt).
func BenchmarkArgsDecode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		args := benchEnvelope(b, f).Args
		for b.Loop() {
			for _, a := range args {
				if a.IsNil() {
					b.Fatal("nil arg")
				}
				if _, err := codec.ToAny(f, a); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkResultEncode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		var result any = 5 // a handler's result, as handler.Func.Call returns it
		for b.Loop() {
			if _, err := f.Marshal(result); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOutcomeEncode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		o := benchOutcome(enc(b, f, 5))
		for b.Loop() {
			if _, err := f.Marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOutcomeDecode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		data := enc(b, f, benchOutcome(enc(b, f, 5)))
		for b.Loop() {
			if _, _, err := codec.DecodeOutcome(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResultDecode(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		r := enc(b, f, 5)
		for b.Loop() {
			var n int
			if err := codec.DecodeValue(f, r, &n, false); err != nil || n != 5 {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkTaskRoundTrip is add(2, 3) from the producer's args to the value
// it reads back, every codec step in turn, the handler called by the
// registry as a worker calls it (its reflection is counted too).
func BenchmarkTaskRoundTrip(b *testing.B) {
	eachFormat(b, func(b *testing.B, f codec.Format) {
		add := benchAdd(b)
		ctx := context.Background()
		for b.Loop() {
			// Producer: writer.Submit.
			env := &codec.Envelope{
				V: codec.Version, ID: benchID, Func: "add", Args: make([]codec.Raw, 2),
				Queue: "default", Created: benchCreated,
			}
			for i, a := range []any{2, 3} {
				raw, err := f.Marshal(a)
				if err != nil {
					b.Fatal(err)
				}
				env.Args[i] = raw
			}
			task, err := codec.EncodeEnvelope(f, env)
			if err != nil {
				b.Fatal(err)
			}
			// Worker: reader.process and reader.finish.
			got, err := codec.DecodeEnvelope(f, task)
			if err != nil {
				b.Fatal(err)
			}
			result, err := add.Call(ctx, f, got.Args, got.Kwargs)
			if err != nil {
				b.Fatal(err)
			}
			raw, err := f.Marshal(result)
			if err != nil {
				b.Fatal(err)
			}
			rec, err := f.Marshal(benchOutcome(raw))
			if err != nil {
				b.Fatal(err)
			}
			// Producer: Handle.Result.
			o, of, err := codec.DecodeOutcome(rec)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			if err := codec.DecodeValue(of, o.Result, &n, false); err != nil || n != 5 {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkParseContentType is the worker's read of a task's Content-Type
// header, as strand writes it (no parameters) and with one.
func BenchmarkParseContentType(b *testing.B) {
	for _, ct := range []string{codec.ContentTypeMsgpack, codec.ContentTypeJSON + "; charset=utf-8"} {
		b.Run(ct, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.ParseContentType(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
