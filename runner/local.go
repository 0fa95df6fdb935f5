package runner

import (
	"context"
	"github.com/strand-run/strand/internal/taskctx"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
)

// InlineRunner runs each call in the caller's goroutine, during Submit
// (the original's "sync" target): the handle Submit returns has its
// outcome already.
type InlineRunner struct {
	reg *registry.Registry
}

// Inline returns a runner that calls the functions of reg synchronously.
func Inline(reg *registry.Registry) *InlineRunner { return &InlineRunner{reg: reg} }

// Submit runs fn with args now and returns its handle, completed, failed
// or cancelled (when ctx ends while it runs). The error is for a call that
// could not be made: args that cannot be encoded, a bad option.
func (r *InlineRunner) Submit(ctx context.Context, fn string, args ...any) (strand.Handle, error) {
	c, err := newCall(fn, args)
	if err != nil {
		return nil, err
	}
	h := newHandle(c)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h.start(cancel)
	ctx = taskctx.WithProgress(ctx, h.report)
	res, err := execute(ctx, r.reg, c, strand.Task{ID: c.id, Func: fn, Attempt: 1, Worker: "inline"}, h.emit)
	h.finish(res, err)
	h.end()
	return h, nil
}

// PoolRunner runs calls on at most n goroutines at once (the original's
// "thread" target); Submit returns at once.
type PoolRunner struct {
	reg  *registry.Registry
	sem  chan struct{}
	ctx  context.Context // ends at Close's deadline: running calls are cancelled
	stop context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Pool returns a runner that runs the functions of reg on a pool of n
// goroutines (n < 1 means 1). Close waits for the calls submitted.
func Pool(reg *registry.Registry, n int) *PoolRunner {
	ctx, stop := context.WithCancel(context.Background())
	return &PoolRunner{reg: reg, sem: make(chan struct{}, max(n, 1)), ctx: ctx, stop: stop}
}

// Submit queues a call of fn with args and returns its handle at once. The
// call outlives ctx, as a task on NATS would; Cancel stops it.
func (p *PoolRunner) Submit(_ context.Context, fn string, args ...any) (strand.Handle, error) {
	c, err := newCall(fn, args)
	if err != nil {
		return nil, err
	}
	h := newHandle(c)
	if !p.add() {
		return nil, ErrClosed
	}
	go func() {
		defer p.wg.Done()
		defer h.end()
		select {
		case p.sem <- struct{}{}:
			defer func() { <-p.sem }()
		case <-h.done: // cancelled while it waited
			return
		}
		ctx, cancel := context.WithCancelCause(p.ctx)
		defer cancel(nil)
		if !h.start(cancel) {
			return
		}
		ctx = taskctx.WithProgress(ctx, h.report)
		res, err := execute(ctx, p.reg, c, strand.Task{ID: c.id, Func: fn, Attempt: 1, Worker: "pool"}, h.emit)
		h.finish(res, err)
	}()
	return h, nil
}

func (p *PoolRunner) add() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// Close refuses new calls and waits for the submitted ones to end.
func (p *PoolRunner) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	p.stop()
	return nil
}
