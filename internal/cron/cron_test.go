package cron

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec, tz, pattern string
		ok                bool
	}{
		{"@every 30s", "", "@every 30s", true},
		{"@every 1m", "", "@every 1m0s", true},
		{"@every 500ms", "", "", false},
		{"@every x", "", "", false},
		{"@every 1s", "Europe/Paris", "", false},
		{"*/5 * * * *", "", "0 */5 * * * *", true},
		{"0 30 9 * * mon-fri", "Europe/Paris", "0 30 9 * * mon-fri", true},
		{"@daily", "", "0 0 0 * * *", true},
		{"* * *", "", "", false},
		{"61 * * * *", "", "", false},
		{"* * * * *", "Mars/Olympus", "", false},
		{"* * * * *", "Local", "", false},
		{"", "", "", false},
	} {
		s, err := Parse(tc.spec, tc.tz)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q, %q): %v, want ok=%v", tc.spec, tc.tz, err, tc.ok)
			continue
		}
		if err == nil && s.Pattern != tc.pattern {
			t.Errorf("Parse(%q): pattern %q, want %q", tc.spec, s.Pattern, tc.pattern)
		}
	}
}

func TestNextPrev(t *testing.T) {
	at := time.Date(2026, 12, 1, 14, 7, 30, 0, time.UTC)
	s, _ := Parse("*/5 * * * *", "")
	n := s.Next(at)
	if want := time.Date(2026, 12, 1, 14, 10, 0, 0, time.UTC); !n.Equal(want) {
		t.Fatalf("next %v, want %v", n, want)
	}
	if p, want := s.Prev(n), time.Date(2026, 12, 1, 14, 5, 0, 0, time.UTC); !p.Equal(want) {
		t.Fatalf("prev %v, want %v", p, want)
	}
	y, _ := Parse("@yearly", "")
	if p, want := y.Prev(at), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !p.Equal(want) {
		t.Fatalf("yearly prev %v, want %v", p, want)
	}
	e, _ := Parse("@every 2s", "")
	if u := e.Upcoming(at, at.Add(5*time.Second)); !u.Equal(at.Add(6 * time.Second)) {
		t.Fatalf("upcoming %v", u)
	}
	paris, _ := Parse("0 9 * * *", "Europe/Paris")
	if n, want := paris.Next(at), time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC); !n.Equal(want) {
		t.Fatalf("paris next %v, want %v", n, want)
	}
}

// A spec may start with its time zone, as in crontab.
func TestSplitTZ(t *testing.T) {
	for spec, want := range map[string][2]string{
		"CRON_TZ=Europe/Paris 0 9 * * *": {"Europe/Paris", "0 9 * * *"},
		"  TZ=UTC   @daily ":             {"UTC", "@daily"},
		"0 9 * * *":                      {"", "0 9 * * *"},
		"CRON_TZ=Asia/Tokyo":             {"Asia/Tokyo", ""},
	} {
		if tz, rest := SplitTZ(spec); tz != want[0] || rest != want[1] {
			t.Errorf("SplitTZ(%q) = %q, %q; want %q, %q", spec, tz, rest, want[0], want[1])
		}
	}
}
