package inspect_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
)

// The queues with their counters, and the live workers: what `strand
// queues` and `strand workers` print. A queue with tasks and no worker
// is Idle: its tasks wait.
func ExampleInspector_Queues() {
	env := exampleStrand.With(map[string]any{"thumbnail": func(name string) string { return name + ".png" }})
	ctx := context.Background()
	in, err := inspect.New(env.Broker, inspect.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := env.Writer.Submit(ctx, "thumbnail", []any{"cat"}, strand.Queue("images")); err != nil {
		fmt.Println(err)
		return
	}
	qs, err := in.Queues(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, q := range qs {
		if q.Queue == "images" {
			fmt.Printf("%s: depth %d, workers %d, idle %v\n", q.Queue, q.Depth, q.Workers, q.Idle)
		}
	}
	var ws []inspect.WorkerInfo
	for len(ws) == 0 { // a worker just started writes its first heartbeat at once, not before Start returns
		if ws, err = in.Workers(ctx); err != nil {
			fmt.Println(err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(len(ws), "worker, on", ws[0].Queues)
	// Output:
	// images: depth 1, workers 0, idle true
	// 1 worker, on [default]
}

// A task whose every attempt failed ends dead and is kept as a dead
// letter; Act's "replay" runs it again as a fresh task (once what made it
// fail is fixed), and Act's "delete" frees a finished task's id at once.
func ExampleInspector_Act_replay() {
	var fixed atomic.Bool
	env := exampleStrand.With(map[string]any{
		"export": func(report string) (string, error) {
			if !fixed.Load() {
				return "", errors.New("disk full")
			}
			return report + " exported", nil
		},
	})
	ctx := context.Background()
	in, err := inspect.New(env.Broker, inspect.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := env.Writer.Submit(ctx, "export", []any{"q3"}, strand.ID("export-q3"), strand.MaxAttempts(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Result(ctx, nil))
	st, _ := h.Status(ctx)
	fmt.Println(st)

	var dead []inspect.Task
	for len(dead) == 0 { // the dead letter is written beside the outcome
		if dead, err = in.DeadLetters(ctx); err != nil {
			fmt.Println(err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(dead[0].ID, dead[0].Func, dead[0].Attempt, dead[0].Error)

	fixed.Store(true)
	res, err := in.Act(ctx, "replay", dead[0]) // or every one: in.Act(ctx, "replay", dead...)
	if err != nil {
		fmt.Println(err)
		return
	}
	again := res[0] // ID the dead task, NewID the new one, Err nil
	nh, _ := env.Writer.Open(again.NewID)
	var s string
	fmt.Println(nh.Result(ctx, &s), s, again.ID, again.Err)

	res, _ = in.Act(ctx, "delete", inspect.Task{ID: "export-q3"}) // the dead task's records go; its id is free
	fmt.Println(res[0].Err)
	st, _ = h.Status(ctx)
	fmt.Println(st)
	// Output:
	// export: disk full
	// dead
	// export-q3 export 2 export: disk full
	// <nil> q3 exported export-q3 <nil>
	// <nil>
	// unknown
}

// Pause stops a queue's workers across the fleet from starting its tasks,
// while producers go on submitting; Resume lets them run.
func ExampleInspector_Pause() {
	env := exampleStrand.With(map[string]any{"greet": func(name string) string { return "hello " + name }})
	ctx := context.Background()
	in, err := inspect.New(env.Broker, inspect.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := in.Pause(ctx, "default"); err != nil {
		fmt.Println(err)
		return
	}
	time.Sleep(100 * time.Millisecond) // the workers see the pause event
	qs, _ := in.Queues(ctx, "default")
	fmt.Println("paused:", qs[0].Paused)
	h, err := env.Writer.Submit(ctx, "greet", []any{"ann"})
	if err != nil {
		fmt.Println(err)
		return
	}
	time.Sleep(100 * time.Millisecond)
	info, _ := h.Info(ctx)
	fmt.Println(info.Status, info.Waiting)

	if err := in.Resume(ctx, "default"); err != nil {
		fmt.Println(err)
		return
	}
	qs, _ = in.Queues(ctx, "default")
	fmt.Println("paused:", qs[0].Paused)
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	// Output:
	// paused: true
	// pending paused
	// paused: false
	// <nil> hello ann
}
