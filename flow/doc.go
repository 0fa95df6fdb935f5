// Package flow runs workflows: tasks that depend on each other — chains,
// groups with a callback (chords) and general DAGs — created all at once and
// carried on by the workers, not by the process that submitted them.
//
// A step is a task (a function, its args and kwargs, options) and the steps
// it runs after. Once those have completed, the worker that stored the last
// of their outcomes queues the step with their results as its arguments: in
// a chain each step gets the previous result as its first argument, a
// chord's callback gets the list of the group's results, and a DAG step gets
// one argument per step in After (or a list, or kwargs by step name, or
// nothing: Step.Results). Step.With sets a step's queue, timeout, attempts,
// kwargs, result TTL and meta with the submit options of package strand. A
// failed step cancels the rest (or only what depends on it, with
// Definition.OnFailure "continue"); the workflow ends completed, failed
// naming the step, or cancelled.
//
// A workflow is submitted through a writer, whose Config gives its default
// queue, result and task TTLs and encoding, and its handle is a
// strand.Handle like a task's: Wait and Result give its end (the final
// step's result), Progress and WatchProgress count its steps that ended,
// Cancel cancels it, and strand.Items ends with it. StatusOf reads each
// step's status:
//
//	w, _ := writer.New(b, writer.Config{})
//	h, _ := flow.Submit(ctx, w, flow.Chain(
//		flow.Call("a", "add", 1, 2),
//		flow.Call("b", "add", 10), // add(3, 10)
//	))
//	var n int
//	_ = h.Result(ctx, &n) // 13
//
//	chord := flow.New(flow.Call("x", "add", 1, 1), flow.Call("y", "add", 2, 2)).
//		Then(flow.Call("total", "sum")) // sum([2, 4])
//
//	diamond := flow.New(
//		flow.Call("a", "add", 1, 1),
//		flow.Call("b", "add", 10).After("a"),
//		flow.Call("c", "add", 20).After("a"),
//		flow.Call("d", "add").After("b", "c"), // add(12, 22)
//	)
//
// The wire form, for other languages, is docs/protocol.md's "Workflows";
// `strand flow run FILE` takes the same workflows as JSON.
package flow
