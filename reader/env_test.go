package reader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strand-run/strand/reader"
)

func TestFromEnv(t *testing.T) {
	t.Setenv("STRAND_QUEUES", "a,b")
	t.Setenv("STRAND_CONCURRENCY", "7")
	t.Setenv("STRAND_ACK_WAIT", "45s")
	c, err := reader.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Queues) != 2 || c.Queues[1] != "b" || c.Concurrency != 7 || c.AckWait != 45*time.Second {
		t.Errorf("FromEnv = %+v", c)
	}
	t.Setenv("STRAND_CONCURRENCY", "many")
	if _, err := reader.FromEnv(); err == nil {
		t.Error("FromEnv took STRAND_CONCURRENCY=many")
	}
}

func TestRunTwice(t *testing.T) {
	e := newEnv(t)
	r, err := reader.New(e.b, e.reg, reader.Config{Queues: []string{"twice"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if err := r.Run(ctx); !errors.Is(err, reader.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("first Run = %v", err)
	}
}
