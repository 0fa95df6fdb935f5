package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeShutdown: when Serve's ctx ends, a request that waits on its
// context (an event stream, a ?wait=) ends at once and Serve returns nil;
// a request that ignores its context is closed after ShutdownTimeout, and
// Serve says so.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"stream", func(rw http.ResponseWriter, r *http.Request) {
			rw.WriteHeader(http.StatusOK)
			rw.(http.Flusher).Flush()
			<-r.Context().Done()
		}, nil},
		{"stuck", func(rw http.ResponseWriter, r *http.Request) {
			rw.WriteHeader(http.StatusOK)
			rw.(http.Flusher).Flush()
			time.Sleep(3 * time.Second)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- Serve(ctx, l, tc.handler, Limits{ShutdownTimeout: 200 * time.Millisecond}) }()
			resp, err := http.Get("http://" + l.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			cancel()
			select {
			case err := <-served:
				if !errors.Is(err, tc.want) && err != tc.want {
					t.Fatalf("Serve returned %v, want %v", err, tc.want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("Serve took %v to stop", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// TestServeListenerError: a listener that fails ends Serve with its error.
func TestServeListenerError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	if err := Serve(context.Background(), l, http.NotFoundHandler(), Limits{}); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve on a closed listener: %v", err)
	}
}
