package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
)

func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{nats.ErrDisconnected, true},
		{fmt.Errorf("submit add: %w", nats.ErrNoResponders), true},
		{jetstream.ErrNoStreamResponse, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{context.DeadlineExceeded, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, false},
		{nats.ErrMaxPayload, false},
		{errors.New("boom"), false},
	} {
		if got := broker.Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestStartServerRefusesHalfACluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  broker.ServerConfig
		want string
	}{
		{"no cluster addr", broker.ServerConfig{Name: "a", ClusterName: "c"}, "needs ClusterName and ClusterAddr"},
		{"no name", broker.ServerConfig{ClusterName: "c", ClusterAddr: "127.0.0.1:0"}, "needs a Name"},
		{"bad route", broker.ServerConfig{Name: "a", ClusterName: "c", ClusterAddr: "127.0.0.1:0", Routes: []string{"::"}}, "want nats-route://"},
	} {
		cfg := tc.cfg
		cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
		s, err := broker.StartServer(cfg)
		if err == nil {
			s.Stop()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
