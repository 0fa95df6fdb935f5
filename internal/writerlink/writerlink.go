// Package writerlink lets the packages that submit through a writer
// (flow) reach its connection and settings without an exported accessor
// on writer.Writer: package writer sets Of when it is initialised, and any
// package that takes a *writer.Writer imports writer, so Of is set before
// it is called.
package writerlink

import (
	"time"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// Settings are what a writer submits with.
type Settings struct {
	B         *broker.Broker
	Queue     string          // the default queue
	ResultTTL time.Duration   // how long outcomes are kept
	TaskTTL   time.Duration   // the longest a task may wait
	Format    codec.Format    // the default encoding
	Done      <-chan struct{} // closed by the writer's Close
}

// Of returns the settings of w, a *writer.Writer; false for anything else
// (a nil writer).
var Of func(w any) (Settings, bool)
