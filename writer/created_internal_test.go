package writer

import (
	"fmt"
	"testing"
	"time"
)

// TestCreatedFor: a chosen id never gets the same created time twice from
// one writer, and no created time runs ahead of the clock, however many
// envelopes a burst makes within one millisecond.
func TestCreatedFor(t *testing.T) {
	w := &Writer{}
	a, b := w.createdFor("same"), w.createdFor("same")
	if b <= a {
		t.Fatalf("one id twice: created %d then %d", a, b)
	}
	for i := range 5000 {
		id := ""
		if i%2 == 0 {
			id = fmt.Sprintf("id-%d", i)
		}
		if got, now := w.createdFor(id), time.Now().UnixMilli(); got > now {
			t.Fatalf("envelope %d: created %d, ahead of the clock's %d", i, got, now)
		}
	}
	if n := len(w.created); n > 5000/2 {
		t.Fatalf("%d created times kept", n)
	}
}
