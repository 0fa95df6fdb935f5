package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

func newSubmitCmd(a *app) *cobra.Command {
	var (
		queue, kwargs, id  string
		timeout, resultTTL time.Duration
		waitTimeout        time.Duration
		maxAttempts        int
		meta               []string
		asJSON, wait       bool
		at                 string
		in                 time.Duration
		priority, key      string
		uniqueFor          string
		debounce           time.Duration
		fair               bool
	)
	cmd := &cobra.Command{
		Use:   "submit [flags] FUNC [ARG...]",
		Short: "Submit a task: call FUNC with ARGs on a worker",
		Long: `Submit a task: a call of the function registered as FUNC, with each ARG
parsed as one JSON value (quote strings for the shell: '"hi"'). Flags go
before FUNC, so that negative numbers are arguments: submit add -1 2.

Without --wait it prints the task's id. With --wait it prints the id on
stderr, waits for the task to end, and prints its result as JSON on stdout;
a task that fails or is cancelled prints its error on stderr and exits 1.
An iterator task's items are printed as JSON, one per line, as they come,
then the end on stderr. A task that reports progress shows a progress bar
on stderr when stderr is a terminal.

--at TIME (RFC 3339) or --in DURATION delays the task: it reads
"scheduled" until then, the server keeps it and queues it at that time
(rounded up to the second), and --wait waits for it. A time in the past
queues it at once; a delay beyond the task TTL (STRAND_TASK_TTL) is refused.`,
		Example: `  strand submit --wait add 2 3
  strand submit --wait count 5
  strand submit --wait work 10 100
  strand submit echo '"hi"'
  strand submit --in 3s --wait add 1 2
  strand submit --at 2026-12-24T18:00:00+01:00 --id xmas echo '"ho"'
  strand submit --queue emails --kwargs '{"retry": true}' --meta user=42 send 7
  strand submit --priority high add 1 2
  strand submit --key report-42 --unique-for 10m sleep 1000
  strand submit --key report-42 --unique-for finished sleep 1000
  strand submit --key search-ann --debounce 2s echo '"ann"'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fn := args[0]
			taskArgs, err := parseArgs(args[1:])
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			var opts []strand.Option
			if fl.Changed("queue") {
				if err := codec.ValidQueue(queue); err != nil {
					return usageErrorf("--queue: %v", err)
				}
				opts = append(opts, strand.Queue(queue))
			}
			if fl.Changed("kwargs") {
				kw, err := parseKwargs(kwargs)
				if err != nil {
					return err
				}
				opts = append(opts, strand.Kwargs(kw))
			}
			if fl.Changed("id") {
				if err := codec.ValidID(id); err != nil {
					return usageErrorf("--id: %v", err)
				}
				opts = append(opts, strand.ID(id))
			}
			if fl.Changed("timeout") {
				if timeout <= 0 {
					return usageErrorf("--timeout %v: want a positive duration", timeout)
				}
				opts = append(opts, strand.Timeout(timeout))
			}
			if fl.Changed("max-attempts") {
				if maxAttempts < 1 {
					return usageErrorf("--max-attempts %d: want at least 1", maxAttempts)
				}
				opts = append(opts, strand.MaxAttempts(maxAttempts))
			}
			if fl.Changed("result-ttl") {
				if resultTTL < time.Second {
					return usageErrorf("--result-ttl %v: want at least 1s", resultTTL)
				}
				opts = append(opts, strand.ResultTTL(resultTTL))
			}
			m, err := parseMeta(meta)
			if err != nil {
				return err
			}
			if m != nil {
				opts = append(opts, strand.Meta(m))
			}
			if asJSON {
				opts = append(opts, strand.Encoding("json"))
			}
			switch {
			case fl.Changed("at") && fl.Changed("in"):
				return usageErrorf("--at and --in: give one of them")
			case fl.Changed("at"):
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageErrorf("--at %q: want an RFC 3339 time such as 2026-12-24T18:00:00Z: %v", at, err)
				}
				opts = append(opts, strand.At(t))
			case fl.Changed("in"):
				if in < 0 {
					return usageErrorf("--in %v: want a positive duration", in)
				}
				opts = append(opts, strand.After(in))
			}
			flow, err := flowOptions(fl.Changed("priority"), priority, fl.Changed("key"), key,
				fl.Changed("unique-for"), uniqueFor, fl.Changed("debounce"), debounce, resultTTL)
			if err != nil {
				return err
			}
			opts = append(opts, flow...)
			if fair {
				if !fl.Changed("key") {
					return usageErrorf("--fair needs --key")
				}
				opts = append(opts, strand.Fair())
			}
			if waitTimeout < 0 {
				return usageErrorf("--wait-timeout %v: want 0 (no limit) or a positive duration", waitTimeout)
			}

			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			c, err := a.newClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			h, err := c.w.Submit(ctx, fn, taskArgs, opts...)
			switch {
			case err != nil && fl.Changed("unique-for") && errors.Is(err, strand.ErrDuplicate) && h != nil:
				// The key is held: the answer is the task that holds it.
				fmt.Fprintf(a.stderr, "key %s is held by task %s: not submitted again\n", key, h.ID())
			case err != nil:
				return err
			}
			if !wait {
				fmt.Fprintln(a.stdout, h.ID())
				return nil
			}
			fmt.Fprintf(a.stderr, "task %s\n", h.ID())
			stopWarn := a.warnNoWorker(ctx, c, h)
			defer stopWarn()
			return a.awaitStreaming(ctx, h, waitTimeout)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVar(&queue, "queue", "default", "queue to send the task to [$STRAND_QUEUE]")
	fl.StringVar(&kwargs, "kwargs", "", `keyword arguments, a JSON object such as '{"n": 1}'`)
	fl.StringVar(&id, "id", "", "the task's id, an idempotency key (default: a new UUIDv7)")
	fl.DurationVar(&timeout, "timeout", 0, "how long the handler may run (default: no limit)")
	fl.IntVar(&maxAttempts, "max-attempts", 0, "how many times the task may run (default: the worker's)")
	fl.DurationVar(&resultTTL, "result-ttl", 24*time.Hour, "how long the result is kept [$STRAND_RESULT_TTL]")
	fl.StringArrayVar(&meta, "meta", nil, "metadata key=value (repeatable)")
	fl.BoolVar(&asJSON, "json", false, "encode the task (and so its result) as JSON instead of msgpack")
	fl.BoolVar(&wait, "wait", false, "wait for the task to end and print its result")
	fl.StringVar(&at, "at", "", "run the task at this RFC 3339 time (status scheduled until then)")
	fl.DurationVar(&in, "in", 0, "run the task after this long (status scheduled until then)")
	fl.DurationVar(&waitTimeout, "wait-timeout", 0, "with --wait, give up after this long and exit 3 (default 0: wait forever)")
	fl.StringVar(&priority, "priority", codec.PriorityNormal, "the task's priority in its queue: high, normal or low")
	fl.StringVar(&key, "key", "", "the task's flow key (one subject token), for --unique-for and --debounce and workers' --limit/--rate by key")
	fl.StringVar(&uniqueFor, "unique-for", "", `with --key: while a task with the key exists for this long (a duration, or "finished": until it ends), print that task instead of submitting`)
	fl.BoolVar(&fair, "fair", false, "with --key: queue the task in its key's fair lane (workers with --fair take the keys' lanes in turn)")
	fl.DurationVar(&debounce, "debounce", 0, "with --key: start the task this long after its submit; a newer submit with the key replaces it meanwhile")
	return cmd
}

// noWorkerAfter is how long `submit --wait` waits before it checks that
// someone will run the task.
var noWorkerAfter = 3 * time.Second

// warnNoWorker says on stderr, once, when the task is still pending after
// noWorkerAfter and its queue has no consumer or no live worker: without
// one the wait does not end. The returned func stops the check.
func (a *app) warnNoWorker(ctx context.Context, c *client, h strand.Handle) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	// The warning and the wait's own lines share stderr: a file takes each
	// line in one write, another writer (a test's buffer) needs a lock.
	stderr := a.stderr
	if _, ok := stderr.(*os.File); !ok {
		a.stderr = &lockedWriter{w: stderr}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(noWorkerAfter):
		}
		if st, err := h.Status(ctx); err != nil || st != strand.StatusPending {
			return
		}
		q := queueOf(h)
		qs, err := c.b.Queues(ctx)
		if err != nil {
			return
		}
		consumer := false
		for _, qi := range qs {
			consumer = consumer || (qi.Queue == q && qi.Consumer != "")
		}
		ws, err := c.in.Workers(ctx)
		if err != nil {
			return
		}
		workers := 0
		for _, w := range ws {
			if slices.Contains(w.Queues, q) {
				workers++
			}
		}
		switch {
		case !consumer:
			fmt.Fprintf(a.stderr, "warning: queue %q has no consumer: no worker has ever consumed it, so the task waits until one does (strand worker --queue %s)\n", q, q)
		case workers == 0:
			fmt.Fprintf(a.stderr, "warning: queue %q has no live worker: the task waits until one starts (strand worker --queue %s)\n", q, q)
		}
	})
	return func() { cancel(); wg.Wait(); a.stderr = stderr }
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flowOptions turns the flow control flags into submit options.
func flowOptions(hasPriority bool, priority string, hasKey bool, key string, hasUnique bool, uniqueFor string, hasDebounce bool, debounce, resultTTL time.Duration) ([]strand.Option, error) {
	var opts []strand.Option
	if hasPriority {
		if err := codec.ValidPriority(priority); err != nil {
			return nil, usageErrorf("--priority: %v", err)
		}
		opts = append(opts, strand.Priority(priority))
	}
	if hasKey {
		if err := codec.ValidKey(key); err != nil {
			return nil, usageErrorf("--key: %v", err)
		}
	}
	if (hasUnique || hasDebounce) && !hasKey {
		return nil, usageErrorf("--unique-for and --debounce need --key")
	}
	switch {
	case hasUnique && hasDebounce:
		return nil, usageErrorf("--unique-for and --debounce exclude each other")
	case hasUnique:
		window := time.Duration(0) // until finished
		if uniqueFor != "finished" {
			d, err := time.ParseDuration(uniqueFor)
			if err != nil || d < time.Second {
				return nil, usageErrorf("--unique-for %q: want a duration of at least 1s, or finished", uniqueFor)
			}
			if d > resultTTL {
				return nil, usageErrorf("--unique-for %v is beyond the result TTL %v (--result-ttl): the task holding the key would be forgotten first", d, resultTTL)
			}
			window = d
		}
		opts = append(opts, strand.Unique(key, window))
	case hasDebounce:
		if debounce < time.Second || debounce > resultTTL {
			return nil, usageErrorf("--debounce %v: want at least 1s and at most the result TTL %v", debounce, resultTTL)
		}
		opts = append(opts, strand.Debounce(key, debounce))
	case hasKey:
		opts = append(opts, strand.Key(key))
	}
	return opts, nil
}
