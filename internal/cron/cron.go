package cron

import (
	"fmt"
	"strings"
	"time"
)

// Spec is a schedule spec as the server fires it: an interval (@every) or a
// 6-field cron expression (seconds first) in a time zone.
type Spec struct {
	// Pattern is what goes in the Nats-Schedule header: "@every 30s", or the
	// cron expression with its seconds field ("0 */5 * * * *").
	Pattern string
	// Every is the interval of an @every spec (0 for cron).
	Every time.Duration
	// TZ is the time zone a cron expression is read in ("" = UTC).
	TZ string

	loc    *time.Location
	fields [6]uint64 // second, minute, hour, day of month, month, day of week
}

// SplitTZ takes a leading time zone off spec, "CRON_TZ=Europe/Paris 0 9 * * *"
// (or "TZ=…", the form of robfig/cron and crontab), and returns it and the
// rest; a spec without one gives "" and spec.
func SplitTZ(spec string) (tz, rest string) {
	spec = strings.TrimSpace(spec)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if after, ok := strings.CutPrefix(spec, prefix); ok {
			tz, rest, _ = strings.Cut(after, " ")
			return tz, strings.TrimSpace(rest)
		}
	}
	return "", spec
}

// Parse reads spec — "@every DURATION" (at least 1s), a 5-field cron
// expression (minute first; it fires at second 0), a 6-field one (second
// first), or @yearly, @monthly, @weekly, @daily, @hourly — in time zone tz,
// an IANA name ("" = UTC; intervals take none). Its errors say what is wrong.
func Parse(spec, tz string) (*Spec, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule spec")
	}
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("schedule spec %q: %v", spec, err)
		}
		if d < time.Second {
			return nil, fmt.Errorf("schedule spec %q: the interval must be at least 1s", spec)
		}
		if tz != "" {
			return nil, fmt.Errorf("schedule spec %q: an interval takes no time zone (%s)", spec, tz)
		}
		return &Spec{Pattern: "@every " + d.String(), Every: d}, nil
	}
	loc := time.UTC
	if tz != "" {
		if tz == "Local" {
			return nil, fmt.Errorf("time zone %q: name an IANA zone such as Europe/Paris (the server, not this process, fires the schedule)", tz)
		}
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %v", tz, err)
		}
		loc = l
	}
	pattern := spec
	switch spec {
	case "@yearly", "@annually":
		pattern = "0 0 0 1 1 *"
	case "@monthly":
		pattern = "0 0 0 1 * *"
	case "@weekly":
		pattern = "0 0 0 * * 0"
	case "@daily", "@midnight":
		pattern = "0 0 0 * * *"
	case "@hourly":
		pattern = "0 0 * * * *"
	}
	f := strings.Fields(pattern)
	switch len(f) {
	case 5:
		f = append([]string{"0"}, f...)
	case 6:
	default:
		return nil, fmt.Errorf("cron spec %q: want 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got %d", spec, len(f))
	}
	s := &Spec{Pattern: strings.Join(f, " "), TZ: tz, loc: loc}
	for i, b := range []bounds{seconds, minutes, hours, dom, months, dow} {
		bits, err := getField(f[i], b)
		if err != nil {
			return nil, fmt.Errorf("cron spec %q: field %d (%s): %v", spec, i+1, f[i], err)
		}
		s.fields[i] = bits
	}
	if _, err := next(s.Pattern, loc, time.Now().UnixNano()); err != nil {
		return nil, fmt.Errorf("cron spec %q: %v", spec, err)
	}
	return s, nil
}

// Next is the first firing after t, as the server computes it from a
// firing (or the schedule's creation) at t.
func (s *Spec) Next(t time.Time) time.Time {
	if s.Every > 0 {
		return t.UTC().Round(time.Second).Add(s.Every)
	}
	n, err := next(s.Pattern, s.loc, t.UnixNano())
	if err != nil {
		return time.Time{}
	}
	return n.UTC()
}

// Upcoming is the first firing after now of a schedule whose firings
// follow on from anchor (its creation, or a firing it has had).
func (s *Spec) Upcoming(anchor, now time.Time) time.Time {
	if s.Every == 0 {
		return s.Next(now)
	}
	n := s.Next(anchor)
	if n.After(now) {
		return n
	}
	k := now.Sub(n)/s.Every + 1
	return n.Add(k * s.Every)
}

// Prev is the last firing strictly before t: for a firing that announces
// t as its next, the time it stands for. An interval's is t less the
// interval; a cron expression's is searched back up to 5 years (zero if none).
func (s *Spec) Prev(t time.Time) time.Time {
	if s.Every > 0 {
		return t.Add(-s.Every).UTC()
	}
	c := t.In(s.loc).Truncate(time.Second).Add(-time.Second)
	limit := c.AddDate(-5, 0, 0)
	for c.After(limit) {
		y, mo, d := c.Date()
		switch {
		case 1<<uint(mo)&s.fields[4] == 0:
			c = time.Date(y, mo, 1, 0, 0, 0, 0, s.loc).Add(-time.Second)
		case !dayMatches(s.fields[3], s.fields[5], c):
			c = time.Date(y, mo, d, 0, 0, 0, 0, s.loc).Add(-time.Second)
		case 1<<uint(c.Hour())&s.fields[2] == 0:
			c = time.Date(y, mo, d, c.Hour(), 0, 0, 0, s.loc).Add(-time.Second)
		case 1<<uint(c.Minute())&s.fields[1] == 0:
			c = time.Date(y, mo, d, c.Hour(), c.Minute(), 0, 0, s.loc).Add(-time.Second)
		case 1<<uint(c.Second())&s.fields[0] == 0:
			c = c.Add(-time.Second)
		default:
			return c.UTC()
		}
	}
	return time.Time{}
}
