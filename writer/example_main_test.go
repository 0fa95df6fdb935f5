package writer_test

import (
	"testing"

	"github.com/strand-run/strand/internal/examplestrand"
	"github.com/strand-run/strand/scratch"
)

// exampleStrand is the scratch strand (server, writer, worker) that this
// package's Examples share; each registers its own functions on it.
var exampleStrand = examplestrand.New(scratch.Options{})

func TestMain(m *testing.M) { exampleStrand.Main(m) }
