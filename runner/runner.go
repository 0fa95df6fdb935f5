package runner

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/taskctx"
	"github.com/strand-run/strand/registry"
)

// Runner is a local strand.Runner: Inline, Pool or Process. It is safe for
// concurrent use.
type Runner struct {
	worker string                                        // "inline", "pool" or "process": what Info and Outcome name as the worker
	run    func(ctx context.Context, c *call, h *handle) // runs c to its outcome
	sem    chan struct{}                                 // nil: inline, in the caller's goroutine
	ctx    context.Context                               // the calls' parent: ends at Close
	stop   context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

var _ strand.Runner = (*Runner)(nil)

func newRunner(worker string, n int, run func(context.Context, *call, *handle)) *Runner {
	ctx, stop := context.WithCancel(context.Background())
	r := &Runner{worker: worker, run: run, ctx: ctx, stop: stop}
	if n > 0 {
		r.sem = make(chan struct{}, n)
	}
	return r
}

// Inline returns a runner that calls the functions of reg in the caller's
// goroutine, during Submit (the original's "sync" target): the handle
// Submit returns has its outcome already.
func Inline(reg *registry.Registry) *Runner {
	return newRunner("inline", 0, local(reg, "inline"))
}

// Pool returns a runner that runs the functions of reg on at most n
// goroutines at once (n < 1 means 1; the original's "thread" target):
// Submit returns at once.
func Pool(reg *registry.Registry, n int) *Runner {
	return newRunner("pool", max(n, 1), local(reg, "pool"))
}

// Process returns a runner that runs each call in a child process of this
// binary (the original's "process" target), at most n at once (n < 1: as
// many as there are CPUs, GOMAXPROCS): a crash, an os.Exit or an OOM of
// the call fails the call, not the caller. The functions are those the
// binary registers in its ServeChild call, first thing in main. Timeout
// kills the child at the deadline (after a second of grace for the
// function to return its timeout error itself); Cancel kills it at once.
func Process(n int) *Runner {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return newRunner("process", n, runChild)
}

// local runs calls through reg in this process.
func local(reg *registry.Registry, worker string) func(context.Context, *call, *handle) {
	return func(ctx context.Context, c *call, h *handle) {
		ctx = taskctx.WithProgress(ctx, h.report)
		task := strand.Task{ID: c.id, Func: c.fn, Attempt: 1, Worker: worker, Meta: c.meta}
		res, err := execute(ctx, reg, c, task, h.emit)
		h.finish(res, err)
	}
}

// Submit calls fn with args. On Inline the call has run when Submit
// returns (cancelled if ctx ends while it runs); on Pool and Process it
// starts as soon as there is room and outlives ctx, as a task on NATS
// would: Cancel stops it. The error is for a call that could not be made:
// args that cannot be encoded, an option among them, a bad option or one
// a local runner cannot honour (matching strand.ErrBadOption), a closed
// runner (strand.ErrClosed). The call's own failure is in its outcome.
func (r *Runner) Submit(ctx context.Context, fn string, args []any, opts ...strand.Option) (strand.Handle, error) {
	c, err := newCall(fn, args, opts)
	if err != nil {
		return nil, err
	}
	h := newHandle(c, r.worker)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("submit %s: %w", fn, strand.ErrClosed)
	}
	r.wg.Add(1)
	r.mu.Unlock()
	if r.sem == nil {
		defer r.wg.Done()
		r.start(ctx, c, h)
		return h, nil
	}
	go func() {
		defer r.wg.Done()
		select {
		case r.sem <- struct{}{}:
			defer func() { <-r.sem }()
		case <-h.done: // cancelled while it waited
			return
		}
		r.start(r.ctx, c, h)
	}()
	return h, nil
}

// start runs c under a ctx of its own that Cancel ends.
func (r *Runner) start(ctx context.Context, c *call, h *handle) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if h.start(cancel) {
		r.run(ctx, c, h)
	}
}

// Close refuses new calls (Submit returns strand.ErrClosed) and waits for
// the submitted ones to end.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	r.stop()
	return nil
}
