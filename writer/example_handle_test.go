package writer_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
)

type resizeOpts struct {
	Width int    `msgpack:"width"`
	Mode  string `msgpack:"mode,omitempty"`
}

// Options follow the args: keyword args (strand.Kwargs) decode into the
// handler's trailing struct by its tags; Result waits for the outcome (pushed by the
// server) and decodes it.
func ExampleWriter_Submit_kwargs() {
	env := exampleStrand.With(map[string]any{
		"resize": func(path string, o resizeOpts) string {
			return fmt.Sprintf("%s at %dpx (%s)", path, o.Width, o.Mode)
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "resize", []any{"cat.png"}, strand.Kwargs(resizeOpts{Width: 640, Mode: "fit"}), strand.Timeout(10*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	if err := h.Result(ctx, &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)

	// Kwargs may be a map; unknown ones fail the task, never retried.
	h, _ = env.Writer.Submit(ctx, "resize", []any{"cat.png"}, strand.Kwargs(map[string]any{"height": 480}))
	err = h.Result(ctx, &s)
	fmt.Println(errors.Is(err, strand.ErrBadArgs), err)
	// Output:
	// cat.png at 640px (fit)
	// true resize: kwargs: unknown field "height"
}

// A task that runs past its timeout fails with kind timeout; its handler's
// ctx ends at the deadline.
func ExampleWriter_Submit_timeout() {
	env := exampleStrand.With(map[string]any{
		"nap": func(ctx context.Context, ms int) error {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "nap", []any{60_000}, strand.Timeout(50*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = h.Result(ctx, nil)
	st, _ := h.Status(ctx)
	fmt.Println(st, errors.Is(err, strand.ErrTimeout), err)
	// Output: failed true nap: timed out after 50ms
}

// Cancel ends a task for good, pending or running: a running handler has
// its ctx cancelled on whichever worker runs it.
func ExampleWriter_Submit_cancel() {
	started := make(chan struct{})
	env := exampleStrand.With(map[string]any{
		"wait_forever": func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "wait_forever", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	<-started
	fmt.Println(h.Cancel(ctx))
	err = h.Result(ctx, nil)
	st, _ := h.Status(ctx)
	fmt.Println(st, errors.Is(err, strand.ErrCancelled), err)
	fmt.Println(errors.Is(h.Cancel(ctx), strand.ErrFinished)) // once it has ended
	// Output:
	// <nil>
	// cancelled true wait_forever: cancelled by caller
	// true
}

// An id of your choosing makes a submission idempotent: a second task on a
// taken id is refused with strand.ErrDuplicate and a handle to the first.
// Open rebuilds a handle from the id, in any process.
func ExampleWriter_Open() {
	env := exampleStrand.With(map[string]any{"invoice": func(n int) string { return fmt.Sprint("invoice #", n) }})
	ctx := context.Background()
	if _, err := env.Writer.Submit(ctx, "invoice", []any{7}, strand.ID("invoice-7")); err != nil {
		fmt.Println(err)
		return
	}
	h, err := env.Writer.Submit(ctx, "invoice", []any{7}, strand.ID("invoice-7"))
	fmt.Println(errors.Is(err, strand.ErrDuplicate), h.ID())

	h, _ = env.Writer.Open("invoice-7")
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	// Output:
	// true invoice-7
	// <nil> invoice #7
}

// Info reads what is known of a task: its status, function, queue,
// attempt, the submitter's meta.
func ExampleWriter_Submit_info() {
	env := exampleStrand.With(map[string]any{"ping": func() string { return "pong" }})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "ping", nil, strand.Meta(map[string]string{"tenant": "acme"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := h.Result(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	info, err := h.Info(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Status, info.Func, info.Queue, info.Attempt, info.Meta["tenant"], !info.Finished.IsZero())
	// Output:
	// completed ping default 1 acme true
}
