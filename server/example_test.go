package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/server"
)

// A program that embeds its own NATS server starts it, connects to its URL
// and stops it last; the data directory is its alone while it runs.
func ExampleStart() {
	dir, err := os.MkdirTemp("", "strand-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()
	b, err := broker.Connect(context.Background(), broker.Config{URL: s.URL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println("connected to", s.URL()[:len("nats://127.0.0.1")])

	_, err = server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	fmt.Println("a second server on it:", errors.Is(err, server.ErrDataDirInUse))
	// Output:
	// connected to nats://127.0.0.1
	// a second server on it: true
}
