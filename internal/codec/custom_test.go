package codec_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/strand-run/strand/internal/codec"
)

// indentJSON is a JSON variant with a content type of its own.
type indentJSON struct{}

func (indentJSON) Name() string        { return "indent-json" }
func (indentJSON) ContentType() string { return "application/vnd.strand-test.indent+json" }
func (indentJSON) Marshal(v any) ([]byte, error) {
	return json.MarshalIndent(v, "", "  ")
}
func (indentJSON) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// registerIndent registers indentJSON once per process: the registry is
// global, and a test may run more than once (-count).
var registerIndent = sync.OnceValues(func() (codec.Format, error) { return codec.Register(indentJSON{}, codec.JSON) })

func TestRegisterCodec(t *testing.T) {
	f, err := registerIndent()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Register(indentJSON{}, codec.JSON); err == nil {
		t.Fatal("a second registration of one content type was accepted")
	}
	if _, err := codec.Register(codec.JSON, codec.JSON); err == nil {
		t.Fatal("a built-in content type was taken over")
	}
	if f.ContentType() != (indentJSON{}).ContentType() || f.Name() != "indent-json" || f.Layout() != codec.JSON {
		t.Fatalf("format %d: %s %s %s", f, f.ContentType(), f.Name(), f.Layout())
	}
	got, err := codec.ParseContentType(indentJSON{}.ContentType() + "; charset=utf-8")
	if err != nil || got != f {
		t.Fatalf("ParseContentType = %v, %v; want %v", got, err, f)
	}
	if c, ok := codec.Lookup(indentJSON{}.ContentType()); !ok || c.Name() != "indent-json" {
		t.Fatalf("Lookup = %v, %v", c, ok)
	}
	if g, ok := codec.FormatOf(indentJSON{}); !ok || g != f {
		t.Fatalf("FormatOf = %v, %v", g, ok)
	}
	if g, ok := codec.FormatOf(codec.Msgpack); !ok || g != codec.Msgpack {
		t.Fatalf("FormatOf(Msgpack) = %v, %v", g, ok)
	}

	// An envelope round-trips through the codec, its values read as JSON.
	arg, _ := f.Marshal(map[string]int{"n": 3})
	env := &codec.Envelope{V: codec.Version, ID: "t1", Func: "add", Args: []codec.Raw{arg}}
	b, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\n  ")) {
		t.Fatalf("not encoded by the custom codec: %s", b)
	}
	back, err := codec.DecodeEnvelope(f, b)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		N int `json:"n"`
	}
	if err := codec.DecodeValue(f, back.Args[0], &m, false); err != nil || m.N != 3 {
		t.Fatalf("arg = %+v, %v", m, err)
	}
	if _, err := codec.Lookup("application/x-unknown"); err {
		t.Fatal("Lookup found an unregistered content type")
	}
}
