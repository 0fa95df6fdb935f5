package codec

import (
	"encoding/binary"

	"github.com/vmihailenco/msgpack/v5"

	strand "github.com/strand-run/strand"
)

// The envelope and the outcome, the records every task writes and reads,
// are encoded and decoded here by hand, for the msgpack library goes by
// reflection: it boxes every field it checks for omitempty (13 allocations
// to encode an envelope of add(2, 3)) and grows a []Raw in five.
//
// The encoders write the library's bytes (TestFastEncodeSameBytes): fields in
// the order of the struct, those tagged omitempty left out when empty,
// strings and integers as the library writes them with codec's settings
// (compact integers). Only codec's own encoder takes them (msgpackRecord);
// another codec encoding an Envelope gets the library's encoding.
//
// The decoders read the common shape of a record, a map of string keys
// whose values have the fields' types, each key once, and give up on
// anything else, which DecodeEnvelope and DecodeOutcome then leave to the
// library (FuzzFastDecode checks that both read the same): odd records are
// read, or refused, exactly as before.

// envelopeMsgpack is an Envelope that codec encodes by hand.
type envelopeMsgpack Envelope

// outcomeMsgpack is an Outcome that codec encodes by hand.
type outcomeMsgpack Outcome

// msgpackRecord returns v as the type codec's msgpack encoder should handle:
// a record encoded by hand, or v itself.
func msgpackRecord(v any) any {
	switch x := v.(type) {
	case *Envelope:
		return (*envelopeMsgpack)(x)
	case *Outcome:
		return (*outcomeMsgpack)(x)
	}
	return v
}

func (e *envelopeMsgpack) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 4 // v, id, func, args
	n += count(len(e.Kwargs) > 0, e.Queue != "", e.Created != 0, e.Deadline != 0, e.TimeoutMS != 0,
		e.MaxAttempts != 0, e.ResultTTLMS != 0, len(e.Meta) > 0, e.Trace != "", e.Flow != nil,
		e.Priority != "", e.Key != "", e.Unique != "", e.NotBefore != 0)
	w := mapWriter{enc: enc}
	w.len(n)
	w.int("v", int64(e.V))
	w.str("id", e.ID)
	w.str("func", e.Func)
	w.key("args")
	if e.Args == nil {
		w.nil()
	} else {
		w.arrayLen(len(e.Args))
		for _, a := range e.Args {
			w.raw(a)
		}
	}
	if len(e.Kwargs) > 0 {
		w.key("kwargs")
		w.raw(e.Kwargs)
	}
	w.strOmit("queue", e.Queue)
	w.intOmit("created", e.Created)
	w.intOmit("deadline", e.Deadline)
	w.intOmit("timeout_ms", e.TimeoutMS)
	w.intOmit("max_attempts", int64(e.MaxAttempts))
	w.intOmit("result_ttl_ms", e.ResultTTLMS)
	w.meta(e.Meta)
	w.strOmit("trace", e.Trace)
	if e.Flow != nil {
		w.key("flow")
		w.len(2 + count(e.Flow.Step != ""))
		w.str("id", e.Flow.ID)
		w.str("queue", e.Flow.Queue)
		w.strOmit("step", e.Flow.Step)
	}
	w.strOmit("priority", e.Priority)
	w.strOmit("key", e.Key)
	w.strOmit("unique", e.Unique)
	w.intOmit("not_before", e.NotBefore)
	return w.err
}

func (o *outcomeMsgpack) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 1 // status
	n += count(o.Func != "", o.Queue != "", o.Created != 0, len(o.Meta) > 0, len(o.Result) > 0,
		o.Error != nil, o.Attempt != 0, o.Started != 0, o.Finished != 0, o.Worker != "", o.Items != 0, len(o.Task) > 0)
	w := mapWriter{enc: enc}
	w.len(n)
	w.str("status", string(o.Status))
	w.strOmit("func", o.Func)
	w.strOmit("queue", o.Queue)
	w.intOmit("created", o.Created)
	w.meta(o.Meta)
	if len(o.Result) > 0 {
		w.key("result")
		w.raw(o.Result)
	}
	if o.Error != nil {
		w.key("error")
		w.len(2)
		w.str("kind", o.Error.Kind)
		w.str("message", o.Error.Message)
	}
	w.intOmit("attempt", int64(o.Attempt))
	w.intOmit("started", o.Started)
	w.intOmit("finished", o.Finished)
	w.strOmit("worker", o.Worker)
	w.intOmit("items", o.Items)
	if len(o.Task) > 0 {
		w.key("task")
		w.raw(o.Task)
	}
	return w.err
}

// count returns how many of present are true.
func count(present ...bool) int {
	n := 0
	for _, p := range present {
		if p {
			n++
		}
	}
	return n
}

// mapWriter writes a msgpack map entry by entry, keeping the first error.
type mapWriter struct {
	enc *msgpack.Encoder
	err error
}

func (w *mapWriter) len(n int) {
	if w.err == nil {
		w.err = w.enc.EncodeMapLen(n)
	}
}

func (w *mapWriter) arrayLen(n int) {
	if w.err == nil {
		w.err = w.enc.EncodeArrayLen(n)
	}
}

func (w *mapWriter) key(k string) {
	if w.err == nil {
		w.err = w.enc.EncodeString(k)
	}
}

func (w *mapWriter) nil() {
	if w.err == nil {
		w.err = w.enc.EncodeNil()
	}
}

func (w *mapWriter) raw(r Raw) {
	if w.err == nil {
		w.err = r.EncodeMsgpack(w.enc)
	}
}

func (w *mapWriter) str(k, v string) {
	w.key(k)
	if w.err == nil {
		w.err = w.enc.EncodeString(v)
	}
}

func (w *mapWriter) int(k string, v int64) {
	w.key(k)
	if w.err == nil {
		w.err = w.enc.EncodeInt(v)
	}
}

func (w *mapWriter) strOmit(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *mapWriter) intOmit(k string, v int64) {
	if v != 0 {
		w.int(k, v)
	}
}

// meta writes a meta map, if it has entries, as the library writes a
// map[string]string: in Go's map order.
func (w *mapWriter) meta(m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.key("meta")
	w.len(len(m))
	for k, v := range m {
		w.str(k, v)
	}
}

// decodeEnvelopeMsgpack decodes the msgpack envelope in b, vetted by
// checkMsgpack, into e (zero) and reports whether it could; if not, e is
// to be decoded by the library afresh.
func decodeEnvelopeMsgpack(b []byte, e *Envelope) bool {
	r := mpReader{b: b, ok: true}
	var seen fieldSet
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		k := r.bytes()
		switch string(k) {
		case "v":
			e.V = int(r.int())
		case "id":
			e.ID = r.str()
		case "func":
			e.Func = r.str()
		case "args":
			e.Args = r.raws()
		case "kwargs":
			e.Kwargs = r.raw()
		case "queue":
			e.Queue = r.str()
		case "created":
			e.Created = r.int()
		case "deadline":
			e.Deadline = r.int()
		case "timeout_ms":
			e.TimeoutMS = r.int()
		case "max_attempts":
			e.MaxAttempts = int(r.int())
		case "result_ttl_ms":
			e.ResultTTLMS = r.int()
		case "meta":
			e.Meta = r.meta()
		case "trace":
			e.Trace = r.str()
		case "flow":
			e.Flow = r.flowRef()
		case "priority":
			e.Priority = r.str()
		case "key":
			e.Key = r.str()
		case "unique":
			e.Unique = r.str()
		case "not_before":
			e.NotBefore = r.int()
		default:
			r.skip()
			continue
		}
		r.ok = r.ok && seen.add(k)
	}
	return r.ok
}

// decodeOutcomeMsgpack is decodeEnvelopeMsgpack for an outcome record.
func decodeOutcomeMsgpack(b []byte, o *Outcome) bool {
	r := mpReader{b: b, ok: true}
	var seen fieldSet
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		k := r.bytes()
		switch string(k) {
		case "status":
			o.Status = status(r.bytes())
		case "func":
			o.Func = r.str()
		case "queue":
			o.Queue = r.str()
		case "created":
			o.Created = r.int()
		case "meta":
			o.Meta = r.meta()
		case "result":
			o.Result = r.raw()
		case "error":
			o.Error = r.errorInfo()
		case "attempt":
			o.Attempt = int(r.int())
		case "started":
			o.Started = r.int()
		case "finished":
			o.Finished = r.int()
		case "worker":
			o.Worker = r.str()
		case "items":
			o.Items = r.int()
		case "task":
			o.Task = r.raw()
		default:
			r.skip()
			continue
		}
		r.ok = r.ok && seen.add(k)
	}
	return r.ok
}

// fieldSet is the keys a decoder has met: a key seen twice sends the
// record to the library, which merges the two values its own way.
type fieldSet struct {
	keys [20][]byte
	n    int
}

func (s *fieldSet) add(k []byte) bool {
	for _, seen := range s.keys[:s.n] {
		if string(seen) == string(k) {
			return false
		}
	}
	if s.n == len(s.keys) {
		return false
	}
	s.keys[s.n] = k
	s.n++
	return true
}

// mpReader reads msgpack values out of b as the library's decoder reads
// them into the fields of a record, for the encodings it knows; at any other
// it clears ok and reads nothing more. b has been vetted by checkMsgpack,
// but every read checks its bounds all the same.
type mpReader struct {
	b  []byte
	i  int
	ok bool
}

func (r *mpReader) fail() { r.ok = false }

// next returns the next n bytes.
func (r *mpReader) next(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b)-r.i {
		r.fail()
		return nil
	}
	p := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return p
}

func (r *mpReader) code() byte {
	if p := r.next(1); p != nil {
		return p[0]
	}
	return 0
}

// size reads the big-endian length of n bytes.
func (r *mpReader) size(n int) int {
	p := r.next(n)
	switch {
	case p == nil:
		return 0
	case n == 1:
		return int(p[0])
	case n == 2:
		return int(binary.BigEndian.Uint16(p))
	}
	return int(binary.BigEndian.Uint32(p))
}

// mapLen reads a map's header (not nil: a nil record goes to the library).
func (r *mpReader) mapLen() int {
	switch c := r.code(); {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f)
	case c == 0xde:
		return r.size(2)
	case c == 0xdf:
		return r.size(4)
	}
	r.fail()
	return 0
}

// bytes reads a string or binary value as the library's DecodeString
// does (nil is ""), as a view of b.
func (r *mpReader) bytes() []byte {
	switch c := r.code(); {
	case c == 0xc0:
		return nil
	case c >= 0xa0 && c <= 0xbf:
		return r.next(int(c & 0x1f))
	case c == 0xd9 || c == 0xc4:
		return r.next(r.size(1))
	case c == 0xda || c == 0xc5:
		return r.next(r.size(2))
	case c == 0xdb || c == 0xc6:
		return r.next(r.size(4))
	}
	r.fail()
	return nil
}

func (r *mpReader) str() string { return string(r.bytes()) }

// int reads an integer as the library's DecodeInt64 does (nil is 0).
func (r *mpReader) int() int64 {
	switch c := r.code(); {
	case c <= 0x7f || c >= 0xe0:
		return int64(int8(c))
	case c == 0xc0:
		return 0
	case c == 0xcc:
		return int64(r.size(1))
	case c == 0xcd:
		return int64(r.size(2))
	case c == 0xce:
		return int64(uint32(r.size(4)))
	case c == 0xd0:
		return int64(int8(r.size(1)))
	case c == 0xd1:
		return int64(int16(r.size(2)))
	case c == 0xd2:
		return int64(int32(r.size(4)))
	case c == 0xcf || c == 0xd3:
		if p := r.next(8); p != nil {
			return int64(binary.BigEndian.Uint64(p))
		}
		return 0
	}
	r.fail()
	return 0
}

// raw reads a value as Raw.DecodeMsgpack does: nil is a nil Raw, any other
// value a view of b.
func (r *mpReader) raw() Raw {
	if !r.ok || r.i >= len(r.b) {
		r.fail()
		return nil
	}
	if r.b[r.i] == 0xc0 {
		r.i++
		return nil
	}
	n, err := msgpackSize(r.b[r.i:])
	if err != nil {
		r.fail()
		return nil
	}
	return Raw(r.next(n))
}

func (r *mpReader) skip() { r.raw() }

// raws reads an array of values into a []Raw as the library does: nil is
// a nil slice, an empty array an empty one.
func (r *mpReader) raws() []Raw {
	var n int
	switch c := r.code(); {
	case c == 0xc0:
		return nil
	case c >= 0x90 && c <= 0x9f:
		n = int(c & 0x0f)
	case c == 0xdc:
		n = r.size(2)
	case c == 0xdd:
		n = r.size(4)
	default:
		r.fail()
		return nil
	}
	if n > len(r.b)-r.i { // each value is a byte at least
		r.fail()
		return nil
	}
	out := make([]Raw, n)
	for i := range out {
		out[i] = r.raw()
	}
	return out
}

// meta reads a map of strings as the library does: nil is a nil map.
func (r *mpReader) meta() map[string]string {
	if r.ok && r.i < len(r.b) && r.b[r.i] == 0xc0 {
		r.i++
		return nil
	}
	n := r.mapLen()
	if !r.ok || n > (len(r.b)-r.i)/2 {
		r.fail()
		return nil
	}
	m := make(map[string]string, n)
	for ; n > 0 && r.ok; n-- {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

// errorInfo reads an outcome's error: nil, or a map of kind and message.
func (r *mpReader) errorInfo() *ErrorInfo {
	if r.ok && r.i < len(r.b) && r.b[r.i] == 0xc0 {
		r.i++
		return nil
	}
	e := new(ErrorInfo)
	var seen fieldSet
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		k := r.bytes()
		switch string(k) {
		case "kind":
			e.Kind = r.str()
		case "message":
			e.Message = r.str()
		default:
			r.skip()
			continue
		}
		r.ok = r.ok && seen.add(k)
	}
	return e
}

// flowRef reads an envelope's flow: nil, or a map of id, queue and step.
func (r *mpReader) flowRef() *FlowRef {
	if r.ok && r.i < len(r.b) && r.b[r.i] == 0xc0 {
		r.i++
		return nil
	}
	f := new(FlowRef)
	var seen fieldSet
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		k := r.bytes()
		switch string(k) {
		case "id":
			f.ID = r.str()
		case "queue":
			f.Queue = r.str()
		case "step":
			f.Step = r.str()
		default:
			r.skip()
			continue
		}
		r.ok = r.ok && seen.add(k)
	}
	return f
}

// status returns the Status in b, the constant itself for a terminal one,
// so that a decoded outcome keeps no copy of it.
func status(b []byte) strand.Status {
	for _, s := range []strand.Status{strand.StatusCompleted, strand.StatusFailed, strand.StatusCancelled, strand.StatusDead} {
		if string(b) == string(s) {
			return s
		}
	}
	return strand.Status(b)
}
