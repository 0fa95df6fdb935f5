package runner

import (
	"context"
	"errors"
	"fmt"
	"github.com/strand-run/strand/internal/taskctx"
	"strings"
	"time"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
)

// ErrClosed is returned by Submit on a runner that has been closed.
var ErrClosed = errors.New("runner: closed")

// Option changes one call. Options are passed among Submit's args: every
// argument of type Option is taken as an option, the rest are the
// function's positional args.
type Option func(*call) error

// Kwargs passes keyword arguments: a map with string keys, or a struct.
func Kwargs(kw any) Option {
	return func(c *call) error { c.kw, c.kwSet = kw, true; return nil }
}

// Timeout limits how long the function may run (its ctx deadline).
func Timeout(d time.Duration) Option {
	return func(c *call) error {
		if d < 0 {
			return fmt.Errorf("negative timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// ID gives the call its id instead of a new UUIDv7.
func ID(id string) Option {
	return func(c *call) error {
		if err := codec.ValidID(id); err != nil {
			return err
		}
		c.id = id
		return nil
	}
}

// Format encodes the args and the result as f (default msgpack).
func Format(f codec.Format) Option {
	return func(c *call) error { c.format = f; return nil }
}

// OnProgress calls fn with each progress report of the call
// (strand.Progress in the function), as it is made.
func OnProgress(fn func(codec.Progress)) Option {
	return func(c *call) error { c.onProgress = fn; return nil }
}

// OnIter calls fn with each item of an iterator function (one returning
// iter.Seq or iter.Seq2) as it is produced: on Inline in the caller's
// goroutine during Submit, on Pool and Process on the runner's goroutine.
func OnIter(fn func(Item)) Option {
	return func(c *call) error { c.onIter = fn; return nil }
}

// OnEnd calls fn with the handle of a call that completed, once it has its
// result (the original's on_end).
func OnEnd(fn func(*Handle)) Option {
	return func(c *call) error { c.onEnd = fn; return nil }
}

// OnError calls fn with the error of a call that did not complete (the
// original's on_error).
func OnError(fn func(error)) Option {
	return func(c *call) error { c.onError = fn; return nil }
}

// call is one submitted call, its args encoded as on the wire.
type call struct {
	id         string
	fn         string
	format     codec.Format
	args       []codec.Raw
	kwargs     codec.Raw
	timeout    time.Duration
	kw         any
	kwSet      bool
	onIter     func(Item)
	onProgress func(codec.Progress)
	onEnd      func(*Handle)
	onError    func(error)
}

// newCall encodes a call of fn with args the way writer.Submit does.
func newCall(fn string, args []any) (*call, error) {
	c := &call{fn: fn}
	pos := make([]any, 0, len(args))
	for _, a := range args {
		if opt, ok := a.(Option); ok {
			if err := opt(c); err != nil {
				return nil, fmt.Errorf("submit %s: %w", fn, err)
			}
			continue
		}
		pos = append(pos, a)
	}
	if c.id == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", fn, err)
		}
		c.id = id.String()
	}
	c.args = make([]codec.Raw, len(pos))
	for i, a := range pos {
		raw, err := c.format.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("submit %s: arg %d: %w", fn, i+1, err)
		}
		c.args[i] = raw
	}
	if c.kwSet && c.kw != nil {
		raw, err := c.format.Marshal(c.kw)
		if err != nil {
			return nil, fmt.Errorf("submit %s: kwargs: %w", fn, err)
		}
		c.kwargs = raw
	}
	return c, nil
}

// errCancelledByCaller is the cause of a task ctx cancelled by Handle.Cancel.
var errCancelledByCaller = errors.New("cancelled by caller")

// execute runs c through reg in this process: the registry decodes the
// args, calls the function and recovers its panic; the result is encoded
// in the call's format, as a worker would store it. An iterator
// function's items go to emit, encoded, as they come (its result is nil),
// as a worker streams them.
func execute(ctx context.Context, reg *registry.Registry, c *call, task strand.Task, emit func(codec.Raw) error) (codec.Raw, error) {
	f, ok := reg.Lookup(c.fn)
	if !ok {
		return nil, unknown(reg, c.fn)
	}
	if c.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, c.timeout, strand.ErrTimeout)
		defer stop()
	}
	v, err := f.Call(taskctx.WithTask(ctx, task), c.format, c.args, c.kwargs)
	if err != nil {
		return nil, classify(ctx, c, err)
	}
	if f.Iterator() {
		return nil, each(ctx, f, c, v, emit)
	}
	if v == nil {
		return nil, nil
	}
	raw, err := c.format.Marshal(v)
	if err != nil {
		return nil, taskError(strand.Permanent(fmt.Errorf("%s: encode result %T: %w", c.fn, v, err)))
	}
	return raw, nil
}

// unknown is the error of a call of a function reg does not have.
func unknown(reg *registry.Registry, fn string) error {
	names := reg.Names()
	if len(names) > 12 {
		names = append(names[:12], "…")
	}
	return &strand.TaskError{Kind: strand.ErrUnknownFunc,
		Message: fmt.Sprintf("%s: unknown function (this runner runs: %s)", fn, strings.Join(names, ", "))}
}

// classify turns err into the *strand.TaskError a worker would record:
// the ctx's timeout and cancel become kinds timeout and cancelled.
func classify(ctx context.Context, c *call, err error) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errCancelledByCaller):
		return &strand.TaskError{Kind: strand.ErrCancelled, Message: c.fn + ": cancelled by caller"}
	case errors.Is(cause, strand.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
		return &strand.TaskError{Kind: strand.ErrTimeout, Message: fmt.Sprintf("%s: timed out after %v", c.fn, c.timeout)}
	}
	return taskError(err)
}

// taskError is err as it reads from an outcome record.
func taskError(err error) error {
	if err == nil {
		return nil
	}
	return codec.ErrorInfoOf(err).Err()
}

// each ranges over the sequence seq of an iterator function, as a worker
// does: each item encoded to emit, stopping at the first error or when ctx
// ends.
func each(ctx context.Context, f *registry.Func, c *call, seq any, emit func(codec.Raw) error) error {
	var stop error
	perr := f.Each(seq, func(item any, err error) bool {
		switch {
		case err != nil:
			stop = err
		case ctx.Err() != nil:
			stop = ctx.Err()
		default:
			raw, merr := c.format.Marshal(item)
			switch {
			case merr != nil:
				stop = strand.Permanent(fmt.Errorf("%s: encode item %T: %w", c.fn, item, merr))
			case emit != nil:
				stop = emit(raw)
			}
		}
		return stop == nil
	})
	if perr != nil {
		return classify(ctx, c, perr)
	}
	if stop == nil && ctx.Err() != nil {
		stop = ctx.Err()
	}
	if stop != nil {
		return classify(ctx, c, stop)
	}
	return nil
}
