package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary be the supervised child too.
func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(serve(addr))
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, "127.0.0.1:0"); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := "server ready (reused: false)\ndouble(21) = 42\nserver stopped\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
