// Package permtest runs strand's roles under NATS permissions on a real
// nats-server process with users: the admin provisions, a worker and a
// producer confined to queue "a" do their work there, and every step into
// queue "b" (or any write of an outcome by a producer) is refused at once
// with strand.ErrForbidden. The permission sets are the ones
// docs/operations.md gives under "Permissions". It has no code of its own;
// run it with go test ./permtest.
package permtest
