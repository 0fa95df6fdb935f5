package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/strand-run/strand/internal/handler"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/opt"
	"github.com/strand-run/strand/internal/taskctx"
	"github.com/strand-run/strand/registry"
)

// refused are the options a local runner cannot honour: they need the
// server (a delay, a key's uniqueness or lane, a priority among queued
// tasks).
var refused = []string{"At", "After", "Unique", "Debounce", "Key", "Fair", "Priority"}

// call is one submitted call, its args encoded as on the wire.
type call struct {
	id      string
	fn      string
	format  codec.Format
	args    []codec.Raw
	kwargs  codec.Raw
	timeout time.Duration
	meta    map[string]string
}

// newCall encodes a call of fn with args and opts the way the writer does.
func newCall(fn string, args []any, opts []strand.Option) (*call, error) {
	var o opt.Call
	for _, apply := range opts {
		if apply != nil {
			apply(&o)
		}
	}
	if err := o.Err(); err != nil {
		return nil, fmt.Errorf("submit %s: %w", fn, err)
	}
	for _, name := range refused {
		if o.Has(name) {
			return nil, fmt.Errorf("submit %s: %w: %s needs NATS workers; a local runner cannot honour it", fn, strand.ErrBadOption, name)
		}
	}
	c := &call{fn: fn, id: o.ID, timeout: o.Timeout, meta: o.Meta}
	if c.id == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", fn, err)
		}
		c.id = id.String()
	}
	c.args = make([]codec.Raw, len(args))
	for i, a := range args {
		if _, ok := a.(strand.Option); ok {
			return nil, fmt.Errorf("submit %s: arg %d: %w: an option among the args (pass it after them)", fn, i+1, strand.ErrBadOption)
		}
		raw, err := c.format.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("submit %s: arg %d: %w", fn, i+1, err)
		}
		c.args[i] = raw
	}
	if o.Kwargs != nil {
		raw, err := c.format.Marshal(o.Kwargs)
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
	f, ok := (*handler.Table)(reg).Lookup(c.fn)
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
	names := (*handler.Table)(reg).Names()
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
func each(ctx context.Context, f *handler.Func, c *call, seq any, emit func(codec.Raw) error) error {
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
