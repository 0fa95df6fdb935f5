package gateway

import (
	"net/http"

	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/writer"
)

// New returns the HTTP API over w and b: JSON in and out, routes as
// described by the OpenAPI document served at /v1/openapi.json.
func New(w *writer.Writer, b *broker.Broker, cfg Config) http.Handler {
	return newHandler(w, (*ib.Broker)(b), cfg)
}
