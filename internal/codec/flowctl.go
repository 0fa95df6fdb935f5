package codec

import "github.com/strand-run/strand/internal/opt"

// Task priorities within a queue (the envelope's "priority"): a high task
// starts before any normal one not yet started, a normal one before any low.
const (
	PriorityHigh   = opt.PriorityHigh
	PriorityNormal = opt.PriorityNormal // the default, written as no priority at all
	PriorityLow    = opt.PriorityLow
)

// ValidPriority reports whether p names a priority ("" is normal).
func ValidPriority(p string) error { return malformed(opt.ValidPriority(p)) }

// ValidKey reports whether k can be a flow key (uniqueness, debounce,
// limits): one subject token of 1–128 characters of A–Z a–z 0–9 - _ =.
func ValidKey(k string) error { return malformed(opt.ValidKey(k)) }
