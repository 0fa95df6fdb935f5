package writer_test

import (
	"context"
	"fmt"
	"strings"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/writer"
)

// Writer middleware wraps every submission, as net/http middleware wraps a
// handler: it may change the envelope (here its meta) or refuse the task.
func ExampleMiddleware() {
	env := exampleStrand.With(map[string]any{
		"tenant_of": func(ctx context.Context) string { t, _ := strand.TaskFrom(ctx); return t.Meta["tenant"] },
	})
	tenant := func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, e *writer.Envelope) error {
			if strings.HasPrefix(e.Func, "internal_") {
				return fmt.Errorf("%s is not for tenants", e.Func)
			}
			if e.Meta == nil {
				e.Meta = map[string]string{}
			}
			e.Meta["tenant"] = "acme"
			return next(ctx, e)
		}
	}
	w, err := writer.New(env.Broker, writer.Config{Middleware: []writer.Middleware{tenant}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()

	ctx := context.Background()
	h, err := w.Submit(ctx, "tenant_of", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	_, err = w.Submit(ctx, "internal_purge", nil)
	fmt.Println(err)
	// Output:
	// <nil> acme
	// submit internal_purge: internal_purge is not for tenants
}
