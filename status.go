package strand

// Status is where a task is in its life. The values are the wire strings of
// docs/protocol.md.
type Status string

// The statuses a task moves through: pending → running → one terminal status.
const (
	// StatusUnknown is reported for an id that no record describes (never
	// submitted, or its records have expired).
	StatusUnknown Status = "unknown"
	// StatusScheduled: delayed until its time (At, After); the server
	// keeps it, and queues it then (it is pending from then on).
	StatusScheduled Status = "scheduled"
	// StatusPending: queued, not yet picked up by a worker.
	StatusPending Status = "pending"
	// StatusRunning: a worker runs the handler now.
	StatusRunning Status = "running"
	// StatusRetrying: an attempt failed and another is scheduled.
	StatusRetrying Status = "retrying"
	// StatusCompleted: the handler returned a result.
	StatusCompleted Status = "completed"
	// StatusFailed: the task ended with an error and will not run again.
	StatusFailed Status = "failed"
	// StatusCancelled: the task was cancelled before or while it ran.
	StatusCancelled Status = "cancelled"
	// StatusDead: every attempt failed; a copy sits in the dead-letter stream.
	StatusDead Status = "dead"
)

// Terminal reports whether s is final: the task will not run again and its
// outcome will not change.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusDead:
		return true
	}
	return false
}
