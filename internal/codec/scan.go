package codec

import (
	"encoding/binary"
	"fmt"
)

// maxDepth is how deeply arrays and maps may nest in a msgpack value; it is
// encoding/json's limit, so that whatever JSON a producer sends survives
// JSONToMsgpack.
const maxDepth = 10000

// checkMsgpack walks the first msgpack value in b without decoding it and
// reports whether the msgpack library can decode it without harm. The
// library sizes a string, array or map from its length prefix before it
// reads the elements (make(map, n) for n up to 2^32, arrays up to 10^6
// elements per level), and recurses once per level of nesting, so a few
// crafted bytes could make it allocate gigabytes or run out of stack; these
// are fatal errors, not panics, and nothing can recover from them. So a value
// is refused when a length prefix claims more bytes (or elements, at least
// one byte each) than b has left, when it nests deeper than maxDepth, or when
// it uses the never-used code 0xc1. Bytes after the first value are left
// alone, as the decoder leaves them.
func checkMsgpack(b []byte) error {
	_, err := msgpackSize(b)
	return err
}

// msgpackSize is checkMsgpack that also returns the length of the first
// value in b.
func msgpackSize(b []byte) (int, error) {
	var (
		i     int
		left  uint64   = 1 // values still to read at the current level
		stack []uint64     // left at the enclosing levels
	)
	for {
		if i >= len(b) {
			return 0, fmt.Errorf("msgpack: truncated at byte %d", i)
		}
		c := b[i]
		i++
		var (
			skip  uint64 // payload bytes
			items uint64 // values inside (arrays and maps)
			size  int    // bytes of a length prefix
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c <= 0x8f: // fixmap
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			items = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return 0, fmt.Errorf("msgpack: invalid code c1 at byte %d", i-1)
			case 0xc4, 0xd9: // bin8, str8
				size = 1
			case 0xc5, 0xda: // bin16, str16
				size = 2
			case 0xc6, 0xdb: // bin32, str32
				size = 4
			case 0xc7: // ext8: length, type, data
				size, skip = 1, 1
			case 0xc8: // ext16
				size, skip = 2, 1
			case 0xc9: // ext32
				size, skip = 4, 1
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (plus the type byte)
				skip = 1 + 1<<(c-0xd4)
			case 0xdc, 0xde: // array16, map16
				size = 2
			case 0xdd, 0xdf: // array32, map32
				size = 4
			}
		}
		if size > 0 {
			if len(b)-i < size {
				return 0, fmt.Errorf("msgpack: truncated length at byte %d", i-1)
			}
			var n uint64
			switch size {
			case 1:
				n = uint64(b[i])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[i:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[i:]))
			}
			i += size
			switch c {
			case 0xdc, 0xdd:
				items = n
			case 0xde, 0xdf:
				items = 2 * n
			default:
				skip += n
			}
		}
		rest := uint64(len(b) - i)
		if skip > rest {
			return 0, fmt.Errorf("msgpack: value at byte %d claims %d bytes, %d are left", i-1, skip, rest)
		}
		if items > rest {
			return 0, fmt.Errorf("msgpack: value at byte %d claims %d elements, %d bytes are left", i-1, items, rest)
		}
		i += int(skip)
		left--
		if items > 0 {
			if len(stack) >= maxDepth {
				return 0, fmt.Errorf("msgpack: nested deeper than %d", maxDepth)
			}
			stack = append(stack, left)
			left = items
		}
		for left == 0 {
			if len(stack) == 0 {
				return i, nil
			}
			left = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
	}
}
