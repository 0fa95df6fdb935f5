package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/runner"
)

// TestMain lets the test binary be the process runner's child, as main
// does for the program.
// Under -race a child would sleep 1s at exit (the race runtime's
// atexit_sleep_ms); its children are told not to.
func TestMain(m *testing.M) {
	runner.ServeChild(functions())
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := `inline: add(2, 3) = 5, count(3) yields [0 1 2], completed
pool: add(2, 3) = 5, count(3) yields [0 1 2], completed
process: add(2, 3) = 5, count(3) yields [0 1 2], completed
nats: add(2, 3) = 5, count(3) yields [0 1 2], completed
process: crash is failed (crashed: true), and this program lives on
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
