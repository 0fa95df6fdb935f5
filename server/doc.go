// Package server runs an embedded NATS server with JetStream, for
// one-machine setups, `strand dev`, `strand server` and tests: a single
// node or one node of a cluster, with its data directory locked against a
// second server.
//
//	s, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
//	if err != nil {
//		return err
//	}
//	defer s.Stop()
//	b, err := broker.Connect(ctx, broker.Config{URL: s.URL()})
//
// It is apart from package broker so that a program that only connects
// (a producer with writer, a worker with reader) does not link nats-server.
// Tests start a server with broker/brokertest or strandtest instead.
package server
