// Package codec adds serialization formats beside strand's two built-in
// ones, msgpack (the default) and JSON: Register a Codec, then submit with
// strand.Encoding(name) to encode a task (and so its result) with it.
package codec

import (
	"fmt"

	ic "github.com/strand-run/strand/internal/codec"
)

// Codec encodes a task's records and values.
type Codec interface {
	// Name is a short name, the one strand.Encoding selects the codec by.
	Name() string
	// ContentType is the media type announced in a task's Content-Type
	// header: workers decode a task with the codec of its content type.
	ContentType() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes b into v.
	Unmarshal(b []byte, v any) error
}

// Register adds c under its name and content type, for every writer and
// worker of the process. layout is "json" or "msgpack": a task's records
// carry its args and results as raw values that workers in any language
// must find, so c's output must follow the layout of a built-in format
// (JSON text or msgpack) and honour json.Marshaler (JSON layout) or
// msgpack's CustomEncoder (msgpack layout). A variant of encoding/json
// with its own content type fits; CBOR or protobuf do not. A content type
// or name already taken, the built-ins' included, is refused.
func Register(c Codec, layout string) error {
	var l ic.Format
	switch layout {
	case "json":
		l = ic.JSON
	case "msgpack":
		l = ic.Msgpack
	default:
		return fmt.Errorf("register codec %s: layout %q: want json or msgpack", c.Name(), layout)
	}
	_, err := ic.Register(c, l)
	return err
}
