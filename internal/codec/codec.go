package codec

import (
	"fmt"
	"mime"
	"sync"
)

// Codec encodes a task's records and values. The two built-in Formats,
// Msgpack and JSON, are Codecs; Register adds others under their content
// type, which is what a task's Content-Type header names.
type Codec interface {
	// Name is a short name for logs and flags ("msgpack", "json").
	Name() string
	// ContentType is the media type announced in the Content-Type header.
	ContentType() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes b into v.
	Unmarshal(b []byte, v any) error
}

// Name is the format's name, as String.
func (f Format) Name() string { return f.String() }

var (
	_ Codec = Msgpack
	_ Codec = JSON
)

// custom is a registered codec: a Format value of its own, whose bytes
// follow the record layout of one of the built-in formats.
type custom struct {
	c      Codec
	layout Format
}

var codecs struct {
	sync.RWMutex
	list   []custom          // Format(2+i) is list[i]
	byType map[string]Format // media type → format
}

// maxCodecs bounds the registrations: a Format is one byte.
const maxCodecs = 200

// Register adds c under its content type and returns the Format that
// stands for it: name it with strand.Encoding(c.Name()), and every
// worker in the process decodes tasks with that Content-Type through c.
//
// A task's records (envelope, state, outcome) carry its args and results
// as raw values that workers in any language must find: c's output must
// follow the layout of a built-in format, JSON text or msgpack, and c must
// honour json.Marshaler (JSON layout) or msgpack's CustomEncoder (Msgpack
// layout), as codec.Raw relies on them. A variant of encoding/json with its
// own content type fits; CBOR or protobuf do not. Values inside records are
// read by the layout's decoder. Register refuses a content type already
// taken, the built-ins' included.
func Register(c Codec, layout Format) (Format, error) {
	if layout != Msgpack && layout != JSON {
		return 0, fmt.Errorf("register codec %s: layout must be codec.Msgpack or codec.JSON", c.Name())
	}
	mt, _, err := mime.ParseMediaType(c.ContentType())
	if err != nil {
		return 0, fmt.Errorf("register codec %s: content type %q: %w", c.Name(), c.ContentType(), err)
	}
	if _, err := ParseContentType(mt); err == nil {
		return 0, fmt.Errorf("register codec %s: content type %q is taken", c.Name(), mt)
	}
	codecs.Lock()
	defer codecs.Unlock()
	if len(codecs.list) >= maxCodecs {
		return 0, fmt.Errorf("register codec %s: too many codecs", c.Name())
	}
	if codecs.byType == nil {
		codecs.byType = make(map[string]Format)
	}
	f := Format(2 + len(codecs.list))
	codecs.list = append(codecs.list, custom{c: c, layout: layout})
	codecs.byType[mt] = f
	return f, nil
}

// FormatOf returns the Format that stands for c: a built-in Format is
// itself, a registered codec the Format Register returned for it.
func FormatOf(c Codec) (Format, bool) {
	if f, ok := c.(Format); ok {
		return f, f.valid()
	}
	f, err := ParseContentType(c.ContentType())
	if err != nil {
		return 0, false
	}
	return f, true
}

// Lookup returns the codec registered for a Content-Type (built-ins
// included; parameters such as charset are ignored).
func Lookup(contentType string) (Codec, bool) {
	f, err := ParseContentType(contentType)
	if err != nil {
		return nil, false
	}
	return f.codec(), true
}

// lookupCustom maps a media type to a registered codec's Format.
func lookupCustom(mt string) (Format, bool) {
	codecs.RLock()
	defer codecs.RUnlock()
	f, ok := codecs.byType[mt]
	return f, ok
}

// customOf returns the registered codec of f, if f is one.
func customOf(f Format) (custom, bool) {
	if f < 2 {
		return custom{}, false
	}
	codecs.RLock()
	defer codecs.RUnlock()
	if i := int(f) - 2; i < len(codecs.list) {
		return codecs.list[i], true
	}
	return custom{}, false
}

func (f Format) valid() bool {
	if f == Msgpack || f == JSON {
		return true
	}
	_, ok := customOf(f)
	return ok
}

// codec returns what encodes f.
func (f Format) codec() Codec {
	if c, ok := customOf(f); ok {
		return c.c
	}
	return f
}

// Layout is the built-in format whose record layout f's bytes follow: f
// itself for Msgpack and JSON, the layout given to Register for a custom codec.
func (f Format) Layout() Format {
	if c, ok := customOf(f); ok {
		return c.layout
	}
	if f == JSON {
		return JSON
	}
	return Msgpack
}
