package inspect_test

import (
	"testing"
	"time"

	"github.com/strand-run/strand/internal/examplestrand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
)

// exampleStrand is the scratch strand (server, writer, worker) that this
// package's Examples share; each registers its own functions on it.
// Retries wait 10ms, not 1s, so that the dead-letter Example is quick.
var exampleStrand = examplestrand.New(scratch.Options{Worker: reader.Config{RetryBase: 10 * time.Millisecond}})

func TestMain(m *testing.M) { exampleStrand.Main(m) }
