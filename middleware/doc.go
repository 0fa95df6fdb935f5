// Package middleware holds ready-made reader and writer middleware:
// structured logs (Logging), Prometheus metrics (WorkerMetrics,
// SubmitMetrics), per-function
// rate limits (RateLimit) and an allowlist of functions per caller
// (Allowlist).
//
// Reader middleware goes in reader.Config.Middleware, writer middleware in
// writer.Config.Middleware, the outermost first:
//
//	metrics, _ := middleware.WorkerMetrics(prometheus.DefaultRegisterer)
//	submitted, _ := middleware.SubmitMetrics(prometheus.DefaultRegisterer)
//	allow := middleware.Allowlist{"svc-a": {"add", "resize"}}
//	r, _ := reader.New(b, reg, reader.Config{Middleware: []reader.Middleware{
//		middleware.Logging(log), metrics, allow.Reader(),
//		middleware.RateLimit(middleware.Limits{PerFunc: map[string]rate.Limit{"resize": 10}}),
//	}})
//	w, _ := writer.New(b, writer.Config{Caller: "svc-a", Middleware: []writer.Middleware{submitted, allow.Writer()}})
package middleware
