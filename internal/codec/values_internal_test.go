package codec

import (
	"bytes"
	"testing"
)

// JSONToMsgpack's integers, read without encoding/json, encode as they do
// by way of it; anything else is left to it.
func FuzzJSONInt(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "1", "127", "128", "-32", "-33", "-128", "-129", "255", "256", "65535", "65536",
		"-32768", "-32769", "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296",
		"999999999999999999", "-999999999999999999", "9223372036854775807", "-9223372036854775808",
		"18446744073709551615", " 5 ", "\n-7\t\r", "01", "-01", "1.0", "1e3", "1E3", "+1", "-", "", " ",
		"--1", "1 2", "0x10", "\"1\"", "[1]", "1,", "١",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, ok := jsonInt(b); !ok {
			return
		}
		want, err := jsonToMsgpack(b)
		if err != nil {
			t.Fatalf("jsonInt reads %q, encoding/json refuses it: %v", b, err)
		}
		got, err := JSONToMsgpack(b)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("JSONToMsgpack(%q) = %x, %v; by way of encoding/json %x", b, []byte(got), err, []byte(want))
		}
	})
}
