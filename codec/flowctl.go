package codec

import "fmt"

// Task priorities within a queue (the envelope's "priority"): a high task
// starts before any normal one not yet started, a normal one before any low.
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal" // the default, written as no priority at all
	PriorityLow    = "low"
)

// ValidPriority reports whether p names a priority ("" is normal).
func ValidPriority(p string) error {
	switch p {
	case "", PriorityHigh, PriorityNormal, PriorityLow:
		return nil
	}
	return fmt.Errorf("%w: priority %q: want high, normal or low", ErrMalformed, p)
}

// ValidKey reports whether k can be a flow key (uniqueness, debounce,
// limits): one subject token of 1–128 characters of A–Z a–z 0–9 - _ =.
func ValidKey(k string) error {
	if k == "" || len(k) > 128 || !tokenOK(k, true) {
		return fmt.Errorf("%w: key %q: want 1-128 of A-Z a-z 0-9 - _ = (one subject token)", ErrMalformed, k)
	}
	return nil
}
