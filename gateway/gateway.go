package gateway

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/writer"
)

// Config tunes a gateway. The zero value works: no authentication, bodies
// up to 1 MiB, waits up to 5 minutes, no logs.
type Config struct {
	// Token, when set, is the bearer token every /v1 request must carry
	// (Authorization: Bearer <token>); empty means no authentication.
	Token string
	// MaxBody is the largest request body accepted (default 1 MiB).
	MaxBody int64
	// MaxWait caps the wait a request may ask for with ?wait= (default 5m).
	MaxWait time.Duration
	// Logger receives the gateway's logs (default: none).
	Logger *zerolog.Logger
	// Metrics is the registry served at /metrics, to which the gateway adds
	// its JetStream reads (queues, workers, dead letters); default: a new one.
	Metrics *prometheus.Registry
	// Inspect configures the inspector of the admin routes: the result TTL
	// of bulk cancellations, the task TTL of replays, the caller pauses are
	// recorded by (default inspect.Config's defaults; its Logger defaults to
	// Logger's).
	Inspect inspect.Config
}

// The defaults of Config's MaxBody and MaxWait.
const (
	defaultMaxBody = 1 << 20
	defaultMaxWait = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = defaultMaxBody
	}
	if c.MaxWait <= 0 {
		c.MaxWait = defaultMaxWait
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	return c
}

// gateway serves strand's HTTP API over one writer and broker.
type gateway struct {
	w     *writer.Writer
	b     *broker.Broker
	in    *inspect.Inspector // the admin routes: queues, workers, dead letters, pause, browse, actions
	names broker.Names
	cfg   Config
	log   zerolog.Logger
	prom  http.Handler // /metrics
}

// route is one method and path of the API; openapi.json describes each.
type route struct {
	method, path string
	handle       func(*gateway, http.ResponseWriter, *http.Request)
}

// routes are the API's routes. The OpenAPI document must describe each
// (a test checks it).
var routes = []route{
	{http.MethodPost, "/v1/tasks", (*gateway).submit},
	{http.MethodGet, "/v1/tasks/{id}", (*gateway).info},
	{http.MethodDelete, "/v1/tasks/{id}", (*gateway).cancel},
	{http.MethodGet, "/v1/tasks/{id}/result", (*gateway).result},
	{http.MethodGet, "/v1/tasks/{id}/events", (*gateway).events},
	{http.MethodGet, "/v1/tasks/{id}/items", (*gateway).items},
	{http.MethodGet, "/v1/queues", (*gateway).queues},
	{http.MethodGet, "/v1/workers", (*gateway).workers},
	{http.MethodGet, "/v1/dlq", (*gateway).dlq},
	{http.MethodGet, "/v1/events", (*gateway).liveEvents},
	{http.MethodGet, "/v1/stream", (*gateway).stream},
	{http.MethodPost, "/v1/dlq/{id}/replay", (*gateway).replay},
	{http.MethodPost, "/v1/flows", (*gateway).submitFlow},
	{http.MethodGet, "/v1/flows/{id}", (*gateway).flowStatus},
	{http.MethodDelete, "/v1/flows/{id}", (*gateway).cancelFlow},
	{http.MethodGet, "/v1/schedules", (*gateway).schedules},
	{http.MethodGet, "/v1/schedules/{name}", (*gateway).schedule},
	{http.MethodPut, "/v1/schedules/{name}", (*gateway).putSchedule},
	{http.MethodDelete, "/v1/schedules/{name}", (*gateway).deleteSchedule},
	{http.MethodPost, "/v1/schedules/{name}/pause", (*gateway).pauseSchedule},
	{http.MethodPost, "/v1/schedules/{name}/resume", (*gateway).resumeSchedule},
	{http.MethodGet, "/v1/openapi.json", (*gateway).openAPI},
	{http.MethodGet, "/healthz", (*gateway).healthz},
	{http.MethodGet, "/metrics", (*gateway).metrics},
	{http.MethodGet, "/v1/tasks", (*gateway).list},
	{http.MethodPost, "/v1/tasks/actions", (*gateway).act},
	{http.MethodPost, "/v1/dlq/replay", (*gateway).replayMany},
	{http.MethodGet, "/v1/stats", (*gateway).stats},
	{http.MethodGet, "/v1/queues/{queue}/pause", (*gateway).pauseState},
	{http.MethodPost, "/v1/queues/{queue}/pause", (*gateway).pause},
	{http.MethodPost, "/v1/queues/{queue}/resume", (*gateway).resume},
}

func newHandler(w *writer.Writer, b *broker.Broker, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	ic := cfg.Inspect
	if ic.Logger == nil {
		ic.Logger = cfg.Logger
	}
	in, err := inspect.New(link.Public(b), ic)
	if err != nil {
		return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			writeError(rw, http.StatusInternalServerError, "internal", err.Error())
		})
	}
	g := &gateway{w: w, b: b, in: in, names: b.Names(), cfg: cfg, log: *cfg.Logger}
	g.prom = metricsHandler(cfg.Metrics, in)
	mux := http.NewServeMux()
	for _, rt := range routes {
		h := http.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rt.handle(g, rw, r) }))
		if rt.path != "/healthz" {
			h = g.authorize(h)
		}
		mux.Handle(rt.method+" "+rt.path, h)
	}
	index, files := dashboard()
	mux.Handle("GET /{$}", index)
	mux.Handle("GET /ui/", files)
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path+"; see /v1/openapi.json")
	})
	return mux
}

// authorize refuses requests without the configured bearer token.
func (g *gateway) authorize(next http.Handler) http.Handler {
	if g.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + g.cfg.Token)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="strand"`)
			// Answer at once, without reading (or waiting for) a body the
			// client announced, and close the connection.
			rw.Header().Set("Connection", "close")
			writeError(rw, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// apiError is the body of every error response.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	enc := json.NewEncoder(rw)
	_ = enc.Encode(v)
}

func writeError(rw http.ResponseWriter, code int, kind, msg string) {
	writeJSON(rw, code, apiError{Error: errorBody{Kind: kind, Message: msg}})
}

// fail answers with the status and kind that err calls for.
func (g *gateway) fail(rw http.ResponseWriter, r *http.Request, err error) {
	code, kind := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, strand.ErrDuplicate):
		code, kind = http.StatusConflict, "duplicate"
	case errors.Is(err, strand.ErrFinished):
		code, kind = http.StatusConflict, "finished"
	case errors.Is(err, strand.ErrTooLarge):
		code, kind = http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, strand.ErrNotFound):
		code, kind = http.StatusNotFound, "not_found"
	case errors.Is(err, strand.ErrMalformed), errors.Is(err, strand.ErrBadOption):
		code, kind = http.StatusBadRequest, "bad_request"
	case errors.Is(err, strand.ErrForbidden):
		code, kind = http.StatusForbidden, "forbidden" // the gateway's NATS user may not do it
	case errors.Is(err, broker.ErrNoSchedules):
		code, kind = http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, context.DeadlineExceeded):
		code, kind = http.StatusGatewayTimeout, "timeout"
	}
	if code == http.StatusInternalServerError {
		g.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("gateway")
	}
	writeError(rw, code, kind, err.Error())
}

// waitParam reads ?wait=: a Go duration ("30s", "1m") or seconds ("30").
// It returns 0 when absent and caps it at MaxWait.
func (g *gateway) waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return 0, fmt.Errorf("wait %q: want a duration such as 30s", s)
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("wait %q: negative", s)
	}
	return min(d, g.cfg.MaxWait), nil
}

//go:embed openapi.json
var openAPIDoc []byte

func (g *gateway) openAPI(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write(openAPIDoc)
}

func (g *gateway) healthz(rw http.ResponseWriter, _ *http.Request) {
	if !g.b.Conn().IsConnected() {
		writeError(rw, http.StatusServiceUnavailable, "unavailable", "not connected to NATS")
		return
	}
	writeJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
}
