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
package dispatch
