// Package writer submits tasks and hands out handles to them.
//
// A task is one write of its envelope, a message of the work-queue stream
// STRAND_TASKS; a worker runs it and writes its outcome once. A handle
// waits for that outcome on the writer's one shared subscription to outcome
// events, with no polling. A *Writer is a strand.Runner, and its handles are
// strand.Handles; the options are strand's, after the args:
//
//	w, _ := writer.New(b, writer.Config{})
//	h, _ := w.Submit(ctx, "add", []any{2, 3}, strand.Timeout(time.Second))
//	var sum int
//	err := h.Result(ctx, &sum)
//
// Open rebuilds a handle from an id in any process; SubmitBatch pipelines
// many submissions into about one round trip.
//
// At and After delay a task: the NATS server keeps it until then (status
// scheduled) and fires it with no strand process alive. PutSchedule keeps a
// named cron or @every schedule on the server, each firing one task:
//
//	h, _ = w.Submit(ctx, "add", []any{2, 3}, strand.After(time.Minute))
//	_ = w.PutSchedule(ctx, "nightly", "CRON_TZ=Europe/Paris 0 3 * * *", "report", nil)
package writer
