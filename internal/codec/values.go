package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// DecodeValue decodes one value of a record in format f into v. JSON is
// first carried over to msgpack (integers stay integers), so that both formats
// go through one decoder with one set of struct tags (msgpack, else json).
// With strict set, map keys that match no struct field are an error. In
// msgpack, Raw values inside v are slices of r, as Format.Unmarshal's are of
// its input.
func DecodeValue(f Format, r Raw, v any, strict bool) (err error) {
	defer recoverMalformed(&err, "value")
	if f.Layout() == JSON {
		m, err := JSONToMsgpack(r)
		if err != nil {
			return err
		}
		r = m
	}
	return unmarshalMsgpack(r, v, strict)
}

// JSONToMsgpack re-encodes a JSON value as msgpack. Numbers without a
// fraction or exponent become integers (int64, or uint64 above int64's
// range; beyond uint64, float64); the others become float64.
func JSONToMsgpack(r Raw) (m Raw, err error) {
	if n, ok := jsonInt(r); ok { // the common case, without encoding/json
		return encodeMsgpack(func(enc *msgpack.Encoder) error { return enc.EncodeInt(n) })
	}
	return jsonToMsgpack(r)
}

// jsonToMsgpack is JSONToMsgpack by way of encoding/json, for any value.
func jsonToMsgpack(r Raw) (m Raw, err error) {
	defer recoverMalformed(&err, "json")
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return Msgpack.Marshal(numbers(v))
}

// jsonInt reads r if it is a JSON integer, white space around it, of at
// most 18 digits (longer ones, which may not fit an int64, are left to
// encoding/json).
func jsonInt(r Raw) (int64, bool) {
	t := trimJSONSpace(r)
	neg := len(t) > 0 && t[0] == '-'
	if neg {
		t = t[1:]
	}
	if len(t) == 0 || len(t) > 18 || (t[0] == '0' && len(t) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
			// Beyond int64 but within uint64 (as msgpack carries it): still an integer.
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u
			}
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

// ToAny decodes a value into plain Go values, as the msgpack library's
// interface decoding gives them: nil; bool; integers in the narrowest type
// of their msgpack encoding (int8, int16, int32, int64, uint8, uint16,
// uint32, uint64: a JSON or compact-msgpack 3 is an int8 — convert before
// comparing); float32 or float64; string; []byte; time.Time (msgpack
// timestamps); []any; and map[any]any for every map, whatever its keys. A
// map key that is an array, a map or bytes (not comparable in Go) is an
// error wrapping ErrMalformed.
func ToAny(f Format, r Raw) (v any, err error) {
	if len(r) == 0 {
		return nil, nil
	}
	defer recoverMalformed(&err, "value")
	if f.Layout() == JSON {
		m, err := JSONToMsgpack(r)
		if err != nil {
			return nil, err
		}
		r = m
	}
	if err := checkMsgpack(r); err != nil {
		return nil, err
	}
	d := getDecoder(r)
	d.dec.SetMapDecoder(d.anyMap)
	if v, err = d.dec.DecodeInterface(); err != nil {
		return nil, err // d is not reused: see getDecoder
	}
	d.release()
	return v, nil
}

// decodeAnyMap decodes a msgpack map into a map[any]any, as the library's
// DecodeUntypedMap does, but refuses keys that Go cannot hash instead of
// panicking, and sizes the map by the bytes left in rd (the reader d reads)
// rather than by the length prefix alone.
func decodeAnyMap(d *msgpack.Decoder, rd *sliceReader) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	m := make(map[any]any, min(n, rd.Len()/2))
	for i := 0; i < n; i++ {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		if k != nil && !reflect.TypeOf(k).Comparable() {
			return nil, fmt.Errorf("%w: msgpack: map key of type %T is not supported", ErrMalformed, k)
		}
		e, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		m[k] = e
	}
	return m, nil
}

// ToJSON renders a value of either format as JSON, for people and for
// JSON-only clients. msgpack maps with non-string keys have their keys
// printed with %v.
func ToJSON(f Format, r Raw) ([]byte, error) {
	if f.Layout() == JSON {
		if len(r) == 0 {
			return []byte("null"), nil
		}
		return r, nil
	}
	v, err := ToAny(f, r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonable(v))
}

func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
	}
	return v
}

// Describe names the type of an encoded value and shows it briefly, for
// error messages: `string "x"`, `int 3`, `nil`, `array of 2`.
func Describe(f Format, r Raw) string {
	v, err := ToAny(f, r)
	if err != nil {
		return "undecodable value"
	}
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return fmt.Sprintf("bool %v", x)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprintf("int %v", x)
	case float32, float64:
		return fmt.Sprintf("float %v", x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case []byte:
		return fmt.Sprintf("bytes of %d", len(x))
	case []any:
		return fmt.Sprintf("array of %d", len(x))
	case map[string]any:
		return fmt.Sprintf("map of %d", len(x))
	case map[any]any:
		return fmt.Sprintf("map of %d", len(x))
	}
	return fmt.Sprintf("%T", v)
}
