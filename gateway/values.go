package gateway

import (
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// The writer's handles and values have more than strand.Handle and
// strand.Value say: a handle knows its queue, a value its JSON text
// (codec.ValueJSON) and an item its number. The gateway asserts these
// methods.
type (
	numbered interface{ N() int64 }
	queued   interface{ Queue() string }
)

// itemN is an item's number.
func itemN(v strand.Value) int64 {
	if n, ok := v.(numbered); ok {
		return n.N()
	}
	return 0
}

// queueOf is the queue of h's task, if h knows it.
func queueOf(h strand.Handle) string {
	if q, ok := h.(queued); ok {
		return q.Queue()
	}
	return ""
}

// outcomeBodyOf renders an outcome, its result as JSON.
func outcomeBodyOf(o *strand.Outcome) (*outcomeBody, error) {
	body := &outcomeBody{ID: o.ID, Status: string(o.Status), Attempt: o.Attempt, Worker: o.Worker, Items: o.Items,
		Finished: rfc3339(o.Ended)}
	if o.Status != strand.StatusCompleted && o.Err != nil {
		e := codec.ErrorInfoOf(o.Err)
		body.Error = &errorBody{Kind: e.Kind, Message: e.Message}
	}
	if o.Status == strand.StatusCompleted {
		res, err := codec.ValueJSON(o.Result)
		if err != nil {
			return nil, fmt.Errorf("task %s: result: %w", o.ID, err)
		}
		body.Result = res
	}
	return body, nil
}

// progressBody is a progress report as JSON (the state record's form).
func progressBody(r *strand.Report) *codec.Progress {
	if r == nil {
		return nil
	}
	return &codec.Progress{Done: r.Done, Total: r.Total, Note: r.Note}
}
