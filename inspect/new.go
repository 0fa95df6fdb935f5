package inspect

import (
	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
)

// New returns an Inspector over b. A TTL out of the server's bounds is
// refused with an error wrapping strand.ErrBadOption.
func New(b *broker.Broker, cfg Config) (*Inspector, error) { return newInspector((*ib.Broker)(b), cfg) }
