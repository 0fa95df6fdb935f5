package inspect_test

import (
	"context"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
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

// actOne does action to the task id alone, as `strand purge ID` does with
// "delete", and returns its result and error.
func actOne(ctx context.Context, in *inspect.Inspector, action, id string) (inspect.ActResult, error) {
	res, err := in.Act(ctx, action, inspect.Task{ID: id})
	if err != nil {
		return inspect.ActResult{}, err
	}
	return res[0], res[0].Err
}

// open returns env's writer's handle to the task id.
func open(t testing.TB, env *strandtest.Env, id string) strand.Handle {
	t.Helper()
	h, err := env.Writer.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
