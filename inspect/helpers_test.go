package inspect_test

import (
	"testing"

	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/scratch"
)

// newInspector returns an Inspector over env's connection.
func newInspector(t testing.TB, env *scratch.Env) *inspect.Inspector {
	t.Helper()
	in, err := inspect.New(env.Broker, inspect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}
