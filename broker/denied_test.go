package broker

import "testing"

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
