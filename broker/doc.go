// Package broker owns strand's side of NATS: the connection (from a Config
// read from STRAND_* variables), the provisioning of the KV bucket and the
// per-queue consumers, and every subject and bucket name (Names). It alone reads and
// writes JetStream: the task cycle (wire.go, pull.go), streamed items
// (itemswire.go), dead letters (dlqwire.go) and worker heartbeats
// (workerswire.go); writer, reader, gateway and the CLI call it.
//
// The embedded server is package server, apart so that a program that only
// connects does not link nats-server. Package brokertest starts a real
// in-process server per test.
package broker
