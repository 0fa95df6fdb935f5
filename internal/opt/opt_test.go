package opt

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, c := range []struct {
		what string
		err  error
		want string // "" for none, else a part of the message
	}{
		{"id", ValidID("a-b_c=1"), ""},
		{"empty id", ValidID(""), "missing id"},
		{"long id", ValidID(strings.Repeat("x", MaxIDLen+1)), "longer than 128"},
		{"dotted id", ValidID("a.b"), `id "a.b"`},
		{"queue", ValidQueue("mail_2-x"), ""},
		{"queue with =", ValidQueue("a=b"), `queue "a=b"`},
		{"long queue", ValidQueue(strings.Repeat("q", 65)), "1-64"},
		{"key", ValidKey("user=42"), ""},
		{"key with space", ValidKey("a b"), "one subject token"},
		{"priority", ValidPriority("high"), ""},
		{"no priority", ValidPriority(""), ""},
		{"bad priority", ValidPriority("urgent"), "want high, normal or low"},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: %v", c.what, c.err)
		case c.want != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.what, c.err, c.want)
		}
	}
}

func TestCallRecords(t *testing.T) {
	var c Call
	c.Given("Queue")
	c.Given("ID")
	c.Fail("ID", errStr("bad"))
	if !c.Has("Queue") || c.Has("At") || len(c.Names()) != 2 {
		t.Fatalf("given: %v", c.Names())
	}
	if err := c.Err(); err == nil || err.Error() != "ID: bad" {
		t.Fatalf("Err: %v", err)
	}
}

type errStr string

func (e errStr) Error() string { return string(e) }
