package flow

import (
	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
)

// NewClient returns a client that speaks through b.
func NewClient(b *broker.Broker, cfg Config) (*Client, error) { return newClient((*ib.Broker)(b), cfg) }
