package reader

import (
	"context"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Workflows (docs/protocol.md, "Workflows") are carried on by the workers:
// the worker that stores a step's outcome releases the steps that were
// waiting for it, or applies the failure policy, before it answers the
// step's task. A crash in between leaves the task to be delivered again;
// the next worker finds the outcome and carries on the same way.

// flowRetry is how long a task whose workflow could not be carried on
// waits before it is delivered again to try once more.
const flowRetry = time.Second

// isStart reports whether env is a workflow's start task.
func isStart(env *codec.Envelope) bool {
	return env.Func == codec.FlowStartFunc && env.Flow != nil && env.Flow.Step == ""
}

// isStep reports whether t is a step of a workflow.
func isStep(t *task) bool {
	return t.env != nil && t.env.Flow != nil && t.env.Flow.Step != ""
}

// startFlow runs a workflow's start task: the definition is stored and the
// steps that run after no other are released; then the task is acked. A
// failure hands the task back to be tried again.
func (r *Reader) startFlow(t *task) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/2)
	defer cancel()
	if r.lost(t.attempt, 1) {
		// Given up: the workflow ends failed rather than waiting forever.
		msg := fmt.Sprintf("start given up after %d deliveries", t.attempt-1)
		if err := r.b.FailStart(ctx, t.env, t.format, string(strand.ErrLost), msg); err != nil {
			t.log.Warn().Err(err).Msg("end workflow")
		}
		_ = t.msg.Term()
		return
	}
	if err := r.b.StartFlow(ctx, t.env, t.format); err != nil {
		t.log.Warn().Err(err).Msg("start workflow; it will be tried again")
		_ = t.msg.NakWithDelay(flowRetry)
		return
	}
	_ = t.msg.Ack()
}

// answer acks (or terminates) a task whose outcome is stored; a workflow
// step carries its workflow on first. known is the outcome this worker
// stored, when it is sure that is the one that stands (nil: read it).
func (r *Reader) answer(t *task, term bool, known *codec.Outcome) {
	if isStep(t) {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AckWait/2)
		err := r.b.CarryOn(ctx, t.env.Flow, known)
		cancel()
		if err != nil {
			t.log.Warn().Err(err).Str("flow", t.env.Flow.ID).Str("step", t.env.Flow.Step).
				Msg("carry the workflow on; the step will be delivered again to try once more")
			_ = t.msg.NakWithDelay(flowRetry)
			return
		}
	}
	if term {
		_ = t.msg.Term()
	} else {
		_ = t.msg.Ack()
	}
}
