package gateway

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strand-run/strand/inspect"
)

// metricsHandler serves reg (a new registry when nil) at /metrics in the
// Prometheus text format, with inspect.Collector added to it: the
// queues' depth, in-flight and redelivered counts, the worker count and the
// dead letters, read from JetStream on every scrape.
func metricsHandler(reg *prometheus.Registry, in *inspect.Inspector) http.Handler {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := reg.Register(in.Collector()); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				writeError(rw, http.StatusInternalServerError, "internal", "metrics: "+err.Error())
			})
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

func (g *gateway) metrics(rw http.ResponseWriter, r *http.Request) {
	g.prom.ServeHTTP(rw, r)
}
