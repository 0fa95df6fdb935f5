// Package link converts between the public *broker.Broker that users hold
// and the internal one that owns the wire: the public type is declared as
// the internal one (type Broker ib.Broker), so both are the same value.
package link

import (
	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
)

// Public is b as users hold it.
func Public(b *ib.Broker) *broker.Broker { return (*broker.Broker)(b) }

// Core is the wire owner behind b.
func Core(b *broker.Broker) *ib.Broker { return (*ib.Broker)(b) }
