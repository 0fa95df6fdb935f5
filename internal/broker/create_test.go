package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/broker"
)

func TestCreateRetrying(t *testing.T) {
	t.Parallel()
	storeFailed := &jetstream.APIError{Code: 500, ErrorCode: 10049, Description: "error creating store for stream"}
	tries := 0
	v, err := broker.CreateRetrying(context.Background(), func() (int, error) {
		if tries++; tries < 3 {
			return 0, storeFailed
		}
		return 7, nil
	})
	if v != 7 || err != nil || tries != 3 {
		t.Fatalf("got %d %v after %d tries", v, err, tries)
	}
	tries = 0
	_, err = broker.CreateRetrying(context.Background(), func() (int, error) {
		tries++
		return 0, jetstream.ErrStreamNameAlreadyInUse
	})
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || tries != 1 {
		t.Fatalf("other error: %v after %d tries", err, tries)
	}
	tries = 0
	_, err = broker.CreateRetrying(context.Background(), func() (int, error) { tries++; return 0, storeFailed })
	if err == nil || tries != 4 {
		t.Fatalf("lasting failure: %v after %d tries", err, tries)
	}
}
