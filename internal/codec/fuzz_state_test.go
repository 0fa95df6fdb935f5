package codec_test

import (
	"testing"

	"github.com/strand-run/strand/internal/codec"
)

// FuzzDecodeState: any bytes decode to a state record or an error, never a
// panic; a decoded record re-encodes and decodes to the same status.
func FuzzDecodeState(f *testing.F) {
	for _, st := range []*codec.State{
		{Status: "running", Attempt: 1, Worker: "w", Started: 1767225600000},
		{Status: "retrying", Attempt: 2, NextAttempt: 1767225601000, LastError: &codec.ErrorInfo{Kind: "error", Message: "x"}},
		{Status: "running", Progress: &codec.Progress{Done: 3, Total: 10, Note: "n"}},
	} {
		for _, fm := range []codec.Format{codec.Msgpack, codec.JSON} {
			b, err := fm.Marshal(st)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"status":""}`))
	f.Add([]byte{0x81, 0xa6, 's', 't', 'a', 't', 'u', 's', 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := codec.DecodeState(b)
		if err != nil {
			return
		}
		fm := codec.Sniff(b)
		again, err := fm.Marshal(st)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", st, err)
		}
		st2, err := codec.DecodeState(again)
		if err != nil || st2.Status != st.Status || st2.Attempt != st.Attempt {
			t.Fatalf("round trip %+v -> %+v (%v)", st, st2, err)
		}
	})
}
