package registry_test

import (
	"context"
	"testing"

	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/registry"
)

type fuzzKw struct {
	N    int               `msgpack:"n"`
	Tags []string          `msgpack:"tags"`
	M    map[string]uint16 `msgpack:"m"`
}

// FuzzCall: any args and kwargs bytes, in either format, end in a result or
// an error from Call — never a panic that escapes it.
func FuzzCall(f *testing.F) {
	reg := registry.New()
	reg.MustRegister("f", func(ctx context.Context, a int8, b string, c []float64, p *bool, kw fuzzKw) (int, error) {
		return int(a) + len(b) + len(c) + kw.N, nil
	})
	fn, _ := (*handler.Table)(reg).Lookup("f")
	f.Add(byte(0), []byte("[1, \"x\", [1.5], true]"), []byte(`{"n": 2, "tags": ["a"], "m": {"k": 1}}`))
	f.Add(byte(1), []byte{0x94, 0x01, 0xa1, 'x', 0x91, 0x01, 0xc3}, []byte{0x81, 0xa1, 'n', 0x02})
	f.Add(byte(1), []byte{0x94, 0xcc, 0xff, 0xc0, 0xc0, 0xc0}, []byte{0xc1})
	f.Fuzz(func(t *testing.T, which byte, args, kwargs []byte) {
		fm := codec.Msgpack
		if which%2 == 0 {
			fm = codec.JSON
		}
		// args arrive as one encoded array; split it the way an envelope would.
		var raws []codec.Raw
		if err := fm.Unmarshal(args, &raws); err != nil {
			return
		}
		_, _ = fn.Call(context.Background(), fm, raws, codec.Raw(kwargs))
	})
}
