package reader

// Test access to what only strand itself reads of a Reader.

// IDOf is the worker's id, as written in task records.
func IDOf(r *Reader) string { return r.cfg.WorkerID }

// AbandonedOf is how many handlers r has given up on that still run.
func AbandonedOf(r *Reader) int { return r.abandoned() }
