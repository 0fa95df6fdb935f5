package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
)

func TestSubjectMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, subject string
		want             bool
	}{
		{"strand.t.a.x", "strand.t.a.x", true},
		{"strand.t.a.x", "strand.t.a.y", false},
		{"strand.t.a", "strand.t.a.x", false},
		{"strand.t.a.x", "strand.t.a", false},
		{"strand.t.*.x", "strand.t.b.x", true},
		{"$JS.API.CONSUMER.CREATE.KV_STRAND.>", "$JS.API.CONSUMER.CREATE.KV_STRAND.n.$KV.STRAND.c.a.*", true},
		{"$JS.API.CONSUMER.CREATE.KV_STRAND.>", "$JS.API.CONSUMER.CREATE.KV_STRAND", false},
		{"$JS.API.STREAM.>", "$JS.API.STREAM.INFO.KV_STRAND", true},
		{"$JS.API.STREAM.>", "$JS.API.CONSUMER.INFO.X", false},
	} {
		if got := subjectMatch(tc.pattern, tc.subject); got != tc.want {
			t.Errorf("subjectMatch(%q, %q) = %v, want %v", tc.pattern, tc.subject, got, tc.want)
		}
	}
}

func TestDenialsObserve(t *testing.T) {
	t.Parallel()
	var d denials
	var called error
	w, stop := d.watch(func(err error) { called = err }, "strand.t.a.x", "$JS.API.CONSUMER.CREATE.KV_STRAND.>")
	defer stop()
	violation := func(s string) error { return fmt.Errorf("%w: %s", nats.ErrPermissionViolation, s) }

	d.observe(violation(`Permissions Violation for Publish to "strand.t.a.y"`))
	d.observe(violation(`Permissions Violation for Subscription to "strand.t.a.x"`))
	d.observe(errors.New(`Permissions Violation for Publish to "strand.t.a.x"`)) // not nats.ErrPermissionViolation
	if called != nil {
		t.Fatalf("called with %v", called)
	}
	d.observe(violation(`Permissions Violation for Publish to "strand.t.a.x"`))
	err := <-w.of("strand.t.a.x")
	if !errors.Is(err, strand.ErrForbidden) || !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "strand.t.a.x") {
		t.Fatalf("refusal: %v", err)
	}
	if called != err {
		t.Fatalf("on got %v, want %v", called, err)
	}
	if got := d.subRefusal("strand.t.a.x", d.seen, time.Second); got == nil {
		t.Fatal("the subscription's refusal is not kept")
	}
}
