// Package broker owns strand's side of NATS: the connection (from a Config
// read from STRAND_* variables), an embedded JetStream server for one-machine
// setups and tests, the provisioning of the KV bucket and the per-queue
// consumers, and every subject and bucket name (Names).
//
// Package brokertest starts a real in-process server per test.
package broker
