// Package inspect is strand's admin and inspection API, apart from the
// producer (as asynq's Inspector is apart from its Client): the queues and
// their counters, the live workers, the dead letters (list, replay,
// purge), a queue's pause state, browsing the tasks the server holds,
// actions on tasks (retry, cancel, delete: one task or many) and per-minute
// stats.
//
//	in, _ := inspect.New(b, inspect.Config{})
//	qs, _ := in.Queues(ctx)
//	dead, _ := in.DeadLetters(ctx)
//	res, _ := in.Act(ctx, "replay", dead...) // each runs again as res[i].NewID
//	failed, _ := in.Tasks(ctx, inspect.Filter{Status: strand.StatusFailed})
//	res, _ = in.Act(ctx, "retry", failed.Tasks...) // resubmit each one
//	_ = in.Pause(ctx, "emails")
//
// The gateway's admin routes and the `strand` CLI's admin commands are
// built on it. Collector exports the same counters to Prometheus.
package inspect
