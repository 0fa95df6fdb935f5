package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Format is an encoding of strand's records: msgpack (the default) or JSON.
// A task's envelope, its state and outcome records, and its result all use
// the format the producer chose for the envelope.
type Format uint8

const (
	// Msgpack is the default format (Content-Type application/msgpack).
	Msgpack Format = iota
	// JSON is chosen with Content-Type application/json.
	JSON
)

// Content types on the wire.
const (
	ContentTypeMsgpack = "application/msgpack"
	ContentTypeJSON    = "application/json"
)

// String names the format.
func (f Format) String() string {
	if c, ok := customOf(f); ok {
		return c.c.Name()
	}
	if f == JSON {
		return "json"
	}
	return "msgpack"
}

// ContentType returns the header value that announces f.
func (f Format) ContentType() string {
	if c, ok := customOf(f); ok {
		return c.c.ContentType()
	}
	if f == JSON {
		return ContentTypeJSON
	}
	return ContentTypeMsgpack
}

// ParseContentType maps a Content-Type header to a Format. An empty header
// means msgpack; parameters such as charset are ignored.
func ParseContentType(ct string) (Format, error) {
	if ct == "" {
		return Msgpack, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return Msgpack, fmt.Errorf("%w: content type %q: %v", ErrMalformed, ct, err)
	}
	switch mt {
	case ContentTypeMsgpack, "application/x-msgpack", "application/vnd.msgpack":
		return Msgpack, nil
	case ContentTypeJSON:
		return JSON, nil
	}
	if f, ok := lookupCustom(mt); ok {
		return f, nil
	}
	return Msgpack, fmt.Errorf("%w: unsupported content type %q", ErrMalformed, ct)
}

// Sniff tells a record's format from its first byte: a JSON object starts
// with '{' (or white space), which no msgpack map does.
func Sniff(b []byte) Format {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', '"':
			return JSON
		}
		break
	}
	return Msgpack
}

var encPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	return &pooledEncoder{buf: &buf, enc: enc}
}}

type pooledEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// Marshal encodes v in format f. msgpack falls back to a field's json tag
// when it has no msgpack tag, so one set of tags serves both formats.
func (f Format) Marshal(v any) ([]byte, error) {
	if c, ok := customOf(f); ok {
		return c.c.Marshal(v)
	}
	if f == JSON {
		return json.Marshal(v)
	}
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	pe.buf.Reset()
	if err := pe.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(pe.buf.Bytes()), nil
}

// Unmarshal decodes b, in format f, into v. A panic in the msgpack library
// comes back as an error wrapping ErrMalformed.
func (f Format) Unmarshal(b []byte, v any) (err error) {
	if c, ok := customOf(f); ok {
		defer recoverMalformed(&err, c.c.Name())
		return c.c.Unmarshal(b, v)
	}
	if f == JSON {
		return json.Unmarshal(b, v)
	}
	defer recoverMalformed(&err, "msgpack")
	return unmarshalMsgpack(b, v, false)
}

// unmarshalMsgpack decodes the msgpack value in b into v, once checkMsgpack
// has found it safe to. Decoders are not pooled: after a failed DecodeRaw a
// msgpack v5 decoder goes on recording every byte it reads (Reset does not
// stop it), and a fresh decoder over a bytes.Reader costs little
// (BenchmarkDecodeEnvelope).
func unmarshalMsgpack(b []byte, v any, strict bool) error {
	if err := checkMsgpack(b); err != nil {
		return err
	}
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.SetCustomStructTag("json")
	dec.DisallowUnknownFields(strict)
	return dec.Decode(v)
}

// recoverMalformed is deferred by the functions that decode wire bytes: it
// turns a panic (in the msgpack library, say) into an error wrapping
// ErrMalformed, so that no record can bring a worker down.
func recoverMalformed(err *error, what string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %s: decoder panicked: %v", ErrMalformed, what, p)
	}
}

// Raw is one encoded value inside a record, in the record's format. It
// encodes as itself (no re-encoding) and decodes without interpretation, so
// args and results cross the worker untouched until a handler needs them.
type Raw []byte

// EncodeMsgpack writes r as it is (a nil Raw is msgpack nil).
func (r Raw) EncodeMsgpack(enc *msgpack.Encoder) error {
	if len(r) == 0 {
		return enc.EncodeNil()
	}
	return enc.Encode(msgpack.RawMessage(r))
}

// DecodeMsgpack keeps the next value's bytes.
func (r *Raw) DecodeMsgpack(dec *msgpack.Decoder) error {
	m, err := dec.DecodeRaw()
	if err != nil {
		return err
	}
	*r = Raw(m)
	return nil
}

// MarshalJSON writes r as it is (a nil Raw is null).
func (r Raw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the value's bytes.
func (r *Raw) UnmarshalJSON(b []byte) error {
	*r = bytes.Clone(b)
	return nil
}

// IsNil reports whether r is absent or an encoded nil/null. (A one-byte Raw
// is msgpack: bytes like 0x20 are small integers there, not white space.)
func (r Raw) IsNil() bool {
	switch len(r) {
	case 0:
		return true
	case 1:
		return r[0] == 0xc0
	}
	return string(bytes.TrimSpace(r)) == "null"
}
