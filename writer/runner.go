package writer

import strand "github.com/strand-run/strand"

// A Writer is a strand.Runner whose tasks NATS workers run (the original's
// "store" target), and its handles are strand.Handles.
var (
	_ strand.Runner = (*Writer)(nil)
	_ strand.Handle = (*handle)(nil)
)
