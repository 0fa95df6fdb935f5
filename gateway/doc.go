// Package gateway is strand's HTTP API, for callers without a NATS client
// and for dashboards: submit a task, read its status, wait for its result,
// follow its state changes as Server-Sent Events, cancel it, and list
// queues, workers and dead letters. JSON in and out; the routes are
// described by the OpenAPI 3.1 document served at /v1/openapi.json.
//
//	w, _ := writer.New(b, writer.Config{})
//	h := gateway.New(w, b, gateway.Config{Token: os.Getenv("STRAND_HTTP_TOKEN")})
//	l, _ := net.Listen("tcp", "127.0.0.1:8080")
//	// timeouts and connection caps (zero Limits: the defaults), until ctx ends
//	err := gateway.Serve(ctx, l, h, gateway.Limits{})
//
// Then: curl -d '{"func": "add", "args": [2, 3]}' 'localhost:8080/v1/tasks?wait=30s'.
//
// Tasks submitted through the gateway are JSON tasks, so their results come
// back as the worker's JSON. Waits (?wait=30s) are push-based: the request
// ends as soon as the worker writes the outcome.
//
// The same handler serves a live web dashboard at / (static files embedded
// from ui/, public; their API calls carry the token given as /?token=),
// fed by two Server-Sent Event routes: /v1/events with every task's
// changes and /v1/stream with the queues and workers each second. Its
// Browse and Charts views read GET /v1/tasks (the tasks the server holds,
// newest first), POST /v1/tasks/actions (bulk retry, cancel, delete) and
// GET /v1/stats (per-minute work from the kept outcomes).
package gateway
