// Package dispatch submits many tasks at once and gathers their outcomes:
// strand's form of the original TaskDispatcher.
//
// Submit pipelines every call into about one round trip (writer.SubmitBatch)
// and returns a Group. The group waits for all of its tasks, or only until a
// predicate of the caller's says it has seen enough, and then cancels the
// rest:
//
//	d := dispatch.New(w)
//	g, _ := d.Submit(ctx, calls)
//	err := g.WaitUntil(ctx, func(g *dispatch.Group) bool { return g.Completed() >= 10 || g.Failed() > 0 })
//	_ = g.CancelRest(ctx)
//	results := g.Results() // in call order, decoded on demand
//
// A Group lives in the caller's process: if the caller dies, nothing
// gathers the results and nothing runs after them. It stays because its
// predicate is the caller's own code, which no worker can run. For work
// that must go on without the submitter — a callback after a group (a
// chord), a chain, a DAG passing results — use package flow, whose
// workflows the workers carry on (flow.Group(...).Then(...)).
package dispatch
