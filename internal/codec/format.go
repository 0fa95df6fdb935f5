package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	switch ct {
	case "", ContentTypeMsgpack:
		return Msgpack, nil // every task strand writes: no parse, no allocation
	case ContentTypeJSON:
		return JSON, nil
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

// maxPooled is the largest buffer (an encoder's output, a decoder's input)
// kept for reuse: a rare huge record should not pin its memory in a pool.
const maxPooled = 64 << 10

// Marshal encodes v in format f. msgpack falls back to a field's json tag
// when it has no msgpack tag, so one set of tags serves both formats.
func (f Format) Marshal(v any) ([]byte, error) {
	if c, ok := customOf(f); ok {
		return c.c.Marshal(v)
	}
	if f == JSON {
		return json.Marshal(v)
	}
	return encodeMsgpack(func(enc *msgpack.Encoder) error { return enc.Encode(msgpackRecord(v)) })
}

// encodeMsgpack has encode write with a pooled encoder and returns a copy
// of what it wrote.
func encodeMsgpack(encode func(*msgpack.Encoder) error) ([]byte, error) {
	pe := encPool.Get().(*pooledEncoder)
	pe.buf.Reset()
	err := encode(pe.enc)
	out := bytes.Clone(pe.buf.Bytes())
	if pe.buf.Cap() <= maxPooled {
		encPool.Put(pe)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Unmarshal decodes b, in format f, into v. A panic in the msgpack library
// comes back as an error wrapping ErrMalformed.
//
// The Raw values decoded from msgpack (an envelope's args and kwargs, an
// outcome's result) share b's memory rather than copy it: b must not be
// changed while they are in use. (Every caller in strand decodes message
// data that nothing writes to again.) Raw values decoded from JSON are copies.
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
// has found it safe to.
func unmarshalMsgpack(b []byte, v any, strict bool) error {
	if err := checkMsgpack(b); err != nil {
		return err
	}
	d := getDecoder(b)
	d.dec.SetCustomStructTag("json")
	d.dec.DisallowUnknownFields(strict)
	if err := d.dec.Decode(v); err != nil {
		return err // d is not reused: see getDecoder
	}
	d.release()
	return nil
}

// decoder is a msgpack decoder reading a byte slice, pooled. The decoder
// reads straight from rd (a ByteScanner, so it buffers nothing), which lets
// Raw.DecodeMsgpack slice the bytes of a value out of rd.b.
type decoder struct {
	dec    *msgpack.Decoder
	rd     sliceReader
	anyMap func(*msgpack.Decoder) (any, error) // decodeAnyMap over rd, for ToAny
}

var decPool = sync.Pool{New: func() any {
	d := &decoder{dec: msgpack.NewDecoder(nil)}
	d.anyMap = func(dec *msgpack.Decoder) (any, error) { return decodeAnyMap(dec, &d.rd) }
	return d
}}

// getDecoder returns a decoder reset to read b, its options the defaults.
// Return it with release only after a decode that succeeded: after a
// DecodeRaw that fails midway a msgpack v5 decoder goes on recording every
// byte it reads, and Reset does not stop it. (checkMsgpack vets all of b
// before a decode starts, so a DecodeRaw fails only in a decode that fails.)
func getDecoder(b []byte) *decoder {
	d := decPool.Get().(*decoder)
	d.rd = sliceReader{b: b}
	d.dec.Reset(&d.rd)
	return d
}

// release returns d to the pool, dropping its input.
func (d *decoder) release() {
	big := len(d.rd.b) > maxPooled // its scratch buffer may have grown as large
	d.rd = sliceReader{}
	if !big {
		decPool.Put(d)
	}
}

// sliceReader reads a byte slice, as bytes.Reader does, and shows where it is.
type sliceReader struct {
	b []byte
	i int // the next byte to read
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *sliceReader) UnreadByte() error {
	if r.i <= 0 {
		return errors.New("codec: UnreadByte at the beginning")
	}
	r.i--
	return nil
}

// Len is the number of bytes not yet read.
func (r *sliceReader) Len() int { return len(r.b) - r.i }

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
	_, err := enc.Writer().Write(r) // as msgpack.RawMessage does, without boxing r
	return err
}

// DecodeMsgpack keeps the next value's bytes. From codec's own decoders
// (Format.Unmarshal, DecodeValue) they are a slice of the input, capacity
// capped so that an append copies; from other decoders, a copy.
func (r *Raw) DecodeMsgpack(dec *msgpack.Decoder) error {
	if rd, ok := dec.Buffered().(*sliceReader); ok {
		rest := rd.b[rd.i:]
		n, err := msgpackSize(rest)
		if err != nil {
			return err
		}
		*r = Raw(rest[:n:n])
		rd.i += n
		return nil
	}
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
