package strand_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
)

// A task with attempts left runs again after a failure; Retry asks for it
// with a delay of the handler's choosing, and the handler's ctx says which
// attempt it is.
func ExampleRetry() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"flaky": func(ctx context.Context) (string, error) {
			t, _ := strand.TaskFrom(ctx)
			if t.Attempt < 3 {
				return "", strand.Retry(fmt.Errorf("attempt %d: busy", t.Attempt), 10*time.Millisecond)
			}
			return fmt.Sprintf("ok on attempt %d", t.Attempt), nil
		},
	})

	h, err := env.Writer.Submit(ctx, "flaky", nil, strand.MaxAttempts(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	// Output: <nil> ok on attempt 3
}

// Permanent ends a task at once, whatever attempts it has left; a task
// whose every attempt failed ends dead (and goes to the dead letters).
func ExamplePermanent() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{ // its worker retries after 10ms, 20ms, …
		"charge": func(card string) error {
			if card == "" {
				return strand.Permanent(errors.New("no card"))
			}
			return errors.New("gateway down")
		},
	})

	for _, card := range []string{"", "4242"} {
		h, err := env.Writer.Submit(ctx, "charge", []any{card}, strand.MaxAttempts(3))
		if err != nil {
			fmt.Println(err)
			return
		}
		err = h.Result(ctx, nil)
		info, _ := h.Info(ctx)
		fmt.Printf("%s after %d attempt(s): %v\n", info.Status, info.Attempt, err)
	}
	// Output:
	// failed after 1 attempt(s): charge: no card
	// dead after 3 attempt(s): charge: gateway down
}
