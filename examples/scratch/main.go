// Command scratch runs a task on a throwaway strand — an embedded server, a
// writer and a worker in this process — and removes everything on exit:
// nothing to install, nothing left behind.
//
//	go run ./examples/scratch
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/strand-run/strand/scratch"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	env, err := scratch.Start(ctx, scratch.Options{Funcs: map[string]any{
		"shout": func(s string) string { return strings.ToUpper(s) + "!" },
	}})
	if err != nil {
		return err
	}
	defer env.Close()
	h, err := env.Writer.Submit(ctx, "shout", []any{"hello"})
	if err != nil {
		return err
	}
	var got string
	if err := h.Result(ctx, &got); err != nil {
		return err
	}
	fmt.Fprintln(out, got)
	return env.Close()
}
