package codec_test

import (
	"testing"

	"github.com/strand-run/strand/codec"
)

// These tests reproduce codec defects found while writing the tests. They
// are skipped until the defects are fixed; remove the Skip with the fix.

// Raw.IsNil trims ASCII white space, so the one-byte msgpack integers 9-13
// and 32 read as nil (a msgpack add(32, 1) fails as bad_args).
func TestKnownBugIsNilFixint(t *testing.T) {
	t.Parallel()
	t.Skip("known bug: Raw.IsNil uses bytes.TrimSpace on msgpack bytes")
	for _, n := range []int{9, 10, 11, 12, 13, 32} {
		if r := enc(t, codec.Msgpack, n); r.IsNil() {
			t.Errorf("msgpack %d (%x) IsNil", n, []byte(r))
		}
	}
}

// ToAny (and Describe, ToJSON) panic on a msgpack map whose key is an array
// or a map: the untyped map decoder hashes an unhashable key.
func TestKnownBugToAnyUnhashableKey(t *testing.T) {
	t.Parallel()
	t.Skip("known bug: ToAny panics on msgpack maps with array/map keys")
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("ToAny panicked: %v", p)
		}
	}()
	_, _ = codec.ToAny(codec.Msgpack, codec.Raw{0x81, 0x91, 0x01, 0x02}) // {[1]: 2}
}

// Validate sniffs kwargs as if they were a record, so the msgpack integers
// 123 ('{') and 9-13, 32 (white space) pass as a map.
func TestKnownBugKwargsNotMapAccepted(t *testing.T) {
	t.Parallel()
	t.Skip("known bug: isMap/IsNil sniff msgpack kwargs as JSON")
	for _, n := range []int{123, 32, 10} {
		e := &codec.Envelope{V: 1, ID: "a", Func: "f", Kwargs: enc(t, codec.Msgpack, n)}
		if _, err := codec.EncodeEnvelope(codec.Msgpack, e); err == nil {
			t.Errorf("msgpack kwargs %d accepted as a map", n)
		}
	}
}
