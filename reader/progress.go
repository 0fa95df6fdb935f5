package reader

import (
	"sync"
	"time"

	"github.com/strand-run/strand/internal/codec"
)

// progressEvery is the least time between two progress writes of a task.
const progressEvery = 100 * time.Millisecond

// stateWriter writes a running task's state record: the running state
// (after RunningAfter) and the handler's progress reports, at most every
// progressEvery and always the last one, none of them awaited.
type stateWriter struct {
	r *Reader
	t *task

	mu      sync.Mutex
	st      *codec.State
	last    time.Time // of the last write
	timer   *time.Timer
	pending bool // a write is scheduled
	stopped bool
}

func (r *Reader) newStateWriter(t *task, running *codec.State) *stateWriter {
	return &stateWriter{r: r, t: t, st: running}
}

// write records the state now.
func (w *stateWriter) write() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.writeLocked()
	}
}

func (w *stateWriter) writeLocked() {
	w.last = time.Now()
	w.r.writeState(w.t, w.st)
}

// progress is the task's taskctx.ProgressFunc.
func (w *stateWriter) progress(done, total int64, note string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.st.Progress = &codec.Progress{Done: done, Total: total, Note: note}
	if w.pending {
		return // the scheduled write takes this report
	}
	wait := progressEvery - time.Since(w.last)
	if wait <= 0 {
		w.writeLocked()
		return
	}
	w.pending = true
	w.timer = time.AfterFunc(wait, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.pending = false
		if !w.stopped {
			w.writeLocked()
		}
	})
}

// stop ends the writes: the task's outcome follows. A report still waiting
// out the throttle is written now, so the last report is never lost (it is
// published before the outcome, on the same connection: readers see it
// first).
func (w *stateWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	if w.pending {
		// The timer may have fired and wait for the lock: once it has it,
		// it sees stopped and writes nothing.
		w.timer.Stop()
		w.pending = false
		w.writeLocked()
	}
}
