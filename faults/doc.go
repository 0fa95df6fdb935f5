// Package faults holds strand's fault tests: they build the strand binary
// once, run servers and workers as real processes on free loopback ports
// with their own data directories, and then break things on purpose —
// SIGKILL a worker mid-task, stop and restart the server, SIGTERM a busy
// worker, flood a worker with hostile tasks, cancel running and pending
// tasks, time tasks out — and check that no task is lost, none runs twice
// where it must not, and every one ends with a readable outcome.
//
// The package has no code of its own, only tests. They are skipped with
// -short. Every process a test starts is stopped by that test, by PID.
package faults
