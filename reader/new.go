package reader

import (
	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/registry"
)

// New returns a worker for the functions in reg.
func New(b *broker.Broker, reg *registry.Registry, cfg Config) (*Reader, error) {
	return newReader((*ib.Broker)(b), reg, cfg)
}
