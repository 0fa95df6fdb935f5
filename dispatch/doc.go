// Package dispatch submits many tasks at once and gathers their outcomes:
// strand's form of the original TaskDispatcher.
//
// Submit pipelines every call into about one round trip on the writer
// (writer.SubmitBatch; on a local runner it submits them one by one) and
// returns a Group. The group waits for all of its tasks, or only until a
// predicate of the caller's says it has seen enough, and then cancels the
// rest; its outcomes are in call order:
//
//	g, _ := dispatch.Submit(ctx, w, calls)
//	err := g.Wait(ctx, func(g *dispatch.Group) bool {
//		return g.Count(strand.StatusCompleted) >= 10 || g.Count(strand.StatusFailed, strand.StatusDead) > 0
//	})
//	_, _ = g.CancelRest(ctx)
//	for i, o := range g.Outcomes() { … o.Decode(&v) … }
//
// A Group lives in the caller's process: if the caller dies, nothing
// gathers the results and nothing runs after them. It stays because its
// predicate is the caller's own code, which no worker can run. For work
// that must go on without the submitter — a callback after a group (a
// chord), a chain, a DAG passing results — use package flow, whose
// workflows the workers carry on (flow.New(...).Then(...)).
package dispatch
