// Command bench measures strand against its peers in one process on one
// embedded nats-server: the raw JetStream floor, a naive KV cycle, asynq
// on redis-server, and strand with three configurations; then a depth run
// (tasks queued with no worker, drained, left past their result TTL) and,
// with -soak, a soak and a sizing run on nats-server processes of their
// own. Run it with `cd bench && go run .`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	var cfg Config
	var only string
	var asJSON bool
	flag.IntVar(&cfg.N, "n", 20000, "burst size per cycle")
	flag.IntVar(&cfg.Producers, "producers", 4, "producers submitting the burst concurrently")
	flag.IntVar(&cfg.Pool, "concurrency", 4, "worker pool size")
	flag.IntVar(&cfg.One, "one", 2000, "tasks run one at a time per cycle (p50/p99)")
	flag.IntVar(&cfg.FlowN, "flow-n", 1000, "steps of the workflow run's fan-out (then one fan-in step)")
	flag.IntVar(&cfg.Depth, "depth", 200000, "tasks queued with no worker in the depth run (negative: skip it)")
	flag.IntVar(&cfg.Delayed, "delayed", 5000, "tasks delayed to one second in the delayed run (negative: skip it)")
	var soakEnv multiFlag
	flag.BoolVar(&cfg.Soak, "soak", false, "run the soak (also run by -only soak): on a nats-server process of its own, -soak-n tasks queued then drained (sizing), and -soak-n tasks with a short result TTL, then the server's RSS and store dir sampled past it")
	flag.IntVar(&cfg.SoakN, "soak-n", 120000, "tasks of the soak and of its sizing run")
	flag.IntVar(&cfg.SoakRate, "soak-rate", 2000, "tasks/s the soak submits at, paced (0: rounds of 40 000 as fast as they go)")
	flag.IntVar(&cfg.SoakWarm, "soak-warm", -1, "tasks the soak runs at -soak-rate, and leaves past their result TTL, before its baseline (-1: as many as -soak-n; 0: baseline on the fresh server)")
	flag.DurationVar(&cfg.SoakWait, "soak-wait", 150*time.Second, "how long past the result TTL the soak samples at most (the server collects and rewrites its streams' state files every 2 minutes)")
	flag.DurationVar(&cfg.SoakEvery, "soak-every", 3*time.Second, "how often the soak samples past the result TTL")
	flag.Var(&soakEnv, "soak-env", "run the soak again with this added to the server's environment (\"GOGC=50\"; repeatable)")
	flag.StringVar(&cfg.NATSServer, "nats-server", "", "nats-server binary of the soak (default: go build it from the module graph)")
	flag.DurationVar(&cfg.ResultTTL, "result-ttl", 3*time.Second, "result TTL of the depth run and the soak (≥ 1s)")
	flag.DurationVar(&cfg.Settle, "settle", 5*time.Second, "how long past the result TTL the depth run and soak wait")
	flag.StringVar(&cfg.HeapProfile, "heapprofile", "", "write a heap profile here after the depth run's wait past the result TTL (and the soak's server's, to <this>.soak-server)")
	flag.StringVar(&cfg.Profile, "profile", "", "path prefix: write CPU, block, mutex profiles, allocations (against <prefix>.<cycle>.allocs0, taken as the burst starts: go tool pprof -diff_base) and an execution trace of each cycle's measured burst to <prefix>.<cycle>.{cpu,block,mutex,allocs,trace}")
	flag.StringVar(&cfg.Redis, "redis", "", "redis-server binary (default: PATH, then /usr/bin/redis-server)")
	flag.StringVar(&only, "only", "", "comma list of cycles: floor,naive,asynq,strand,strand-noprefetch,strand-prefetch,strand-batch,strand-keyed,strand-limit,depth,delayed,flow,soak")
	flag.BoolVar(&asJSON, "json", false, "print the report as JSON")
	browseN := flag.Int("browse", 0, "run only the browse run: this many kept outcomes, then pages of 50, searches and charts timed over them (1000000 in README)")
	flag.Parse()
	if *browseN > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runBrowse(ctx, *browseN, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	cfg.SoakEnv = soakEnv
	if cfg.HeapProfile != "" || cfg.Profile != "" {
		runtime.MemProfileRate = 4096
	}
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil {
		if asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			rep.Markdown(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// multiFlag is a flag that may be given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
