// Package clustertest holds strand's tests on a 3-node JetStream cluster
// (in-process, on loopback): a node is shut down while tasks are in flight,
// and writers and workers must fail over by themselves without losing one.
// It has no code of its own; run it with go test ./clustertest.
package clustertest
