package writer

import (
	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/writerlink"
)

// A Writer is a strand.Runner whose tasks NATS workers run (the original's
// "store" target), and its handles are strand.Handles.
var (
	_ strand.Runner = (*Writer)(nil)
	_ strand.Handle = (*handle)(nil)
)

func init() {
	writerlink.Of = func(v any) (writerlink.Settings, bool) {
		w, ok := v.(*Writer)
		if !ok || w == nil {
			return writerlink.Settings{}, false
		}
		f := codec.Msgpack
		if w.cfg.JSON {
			f = codec.JSON
		}
		return writerlink.Settings{B: w.b, Queue: w.cfg.Queue, ResultTTL: w.cfg.ResultTTL,
			TaskTTL: w.cfg.TaskTTL, Format: f, Done: w.done}, true
	}
}
