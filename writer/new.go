package writer

import (
	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
)

// New returns a writer that submits through b.
func New(b *broker.Broker, cfg Config) (*Writer, error) { return newWriter((*ib.Broker)(b), cfg) }
