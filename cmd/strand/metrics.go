package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// serveMetrics, when --metrics names an address, adds the metrics
// middleware to rc and serves its registry (plus the Go runtime and
// process collectors) at http://ADDR/metrics until stop is called.
func (a *app) serveMetrics(addr string, rc *reader.Config) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	reg, m, err := newRegistry()
	if err != nil {
		return nil, err
	}
	rc.Middleware = append(rc.Middleware, m.worker)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageErrorf("--metrics %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("metrics server")
		}
	}()
	url := fmt.Sprintf("http://%s/metrics", l.Addr())
	a.log.Info().Str("url", url).Msg("metrics served")
	fmt.Fprintf(a.stdout, "metrics:   %s\n", url)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// taskMetrics are the two sides of the task metrics of one registry.
type taskMetrics struct {
	worker    reader.Middleware
	submitted writer.Middleware
}

// newRegistry is a registry with the Go runtime and process collectors and
// the task metrics of middleware.WorkerMetrics and SubmitMetrics.
func newRegistry() (*prometheus.Registry, taskMetrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var m taskMetrics
	var err error
	if m.worker, err = middleware.WorkerMetrics(reg); err != nil {
		return nil, m, err
	}
	if m.submitted, err = middleware.SubmitMetrics(reg); err != nil {
		return nil, m, err
	}
	return reg, m, nil
}
