package reader

import "time"

// Test access to what only strand itself reads of a Reader.

// IDOf is the worker's id, as written in task records.
func IDOf(r *Reader) string { return r.cfg.WorkerID }

// AbandonedOf is how many handlers r has given up on that still run.
func AbandonedOf(r *Reader) int { return r.abandoned() }

// ForgetCancels makes r forget the cancellations it has seen longer than
// keep ago whenever it holds more than max (a worker keeps 65 536 for an
// hour). Call it before Run.
func ForgetCancels(r *Reader, max int, keep time.Duration) {
	r.memory = cancelMemory{max: max, keep: keep}
}
