package reader

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/handler"
)

// defaultHeartbeatEvery is how often a worker rewrites its record in the
// workers bucket unless configured.
const defaultHeartbeatEvery = 5 * time.Second

// announce starts the worker's heartbeat: its record in the workers bucket
// (key = worker id), rewritten every HeartbeatEvery with a TTL of three
// beats, so that a worker that dies drops out by itself. The returned func
// stops the heartbeat, waits for its goroutine, and deletes the record, so
// that a worker that stops gracefully drops out at once.
func (r *Reader) announce(ctx context.Context) (stop func()) {
	p := &presence{r: r, every: r.cfg.HeartbeatEvery, ttl: heartbeatTTL(r.cfg.HeartbeatEvery)}
	host, _ := os.Hostname()
	p.rec = codec.Worker{
		ID: r.cfg.WorkerID, Host: host, PID: os.Getpid(), Queues: r.cfg.Queues, Functions: (*handler.Table)(r.reg).Names(),
		Concurrency: r.cfg.Concurrency, Started: time.Now().UnixMilli(), Version: moduleVersion(),
	}
	// Beats go on while running tasks finish after ctx ends.
	beatCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { p.run(beatCtx) })
	return func() {
		cancel()
		wg.Wait()
		p.retire()
	}
}

// heartbeatTTL is how long a record outlives its last beat: three beats,
// at least the server's minimum of one second, in whole seconds.
func heartbeatTTL(every time.Duration) time.Duration {
	return max(time.Second, (3 * every).Round(time.Second))
}

// presence is one worker's heartbeat.
type presence struct {
	r      *Reader
	every  time.Duration
	ttl    time.Duration
	rec    codec.Worker
	wrote  bool // a record may exist: retire deletes it
	warned bool
}

// busyBeat is the shortest time between two beats that tell a change of
// the tasks in flight: lists of workers show how busy each one is within
// about that, not a whole heartbeat interval late.
const busyBeat = 250 * time.Millisecond

// addInFlight counts handlers starting (1) and ending (-1), and tells the
// heartbeat.
func (r *Reader) addInFlight(d int64) {
	r.inFlight.Add(d)
	select {
	case r.busy <- struct{}{}:
	default:
	}
}

func (p *presence) run(ctx context.Context) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	ready := false
	for {
		if !ready {
			// The bucket is made on first use; until then a beat has nowhere to go.
			err := p.r.b.EnsureWorkers(ctx)
			ready = err == nil
			if err != nil && ctx.Err() == nil {
				p.warn(err)
			}
		}
		if ready {
			p.beat(ctx)
		}
		if !p.wait(ctx, tick.C, time.Now().Add(busyBeat)) {
			return
		}
	}
}

// wait waits for the next beat: a tick, or a change of the tasks in flight
// (told no earlier than soonest). It returns false when ctx ends.
func (p *presence) wait(ctx context.Context, tick <-chan time.Time, soonest time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-p.r.busy:
			if p.rec.InFlight == int(p.r.inFlight.Load()) {
				continue
			}
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Until(soonest)):
				return true
			}
		}
	}
}

// beat writes the record once, waiting at most one interval for the server.
func (p *presence) beat(ctx context.Context) {
	p.rec.InFlight = int(p.r.inFlight.Load())
	p.rec.Beat = time.Now().UnixMilli()
	data, err := codec.EncodeWorker(&p.rec)
	if err != nil {
		p.warn(err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(p.every, time.Second))
	defer cancel()
	p.wrote = true
	if err := p.r.b.Beat(ctx, p.rec.ID, data, p.ttl); err != nil && ctx.Err() == nil {
		p.warn(err)
		return
	}
	p.warned = false
}

// retire deletes the record with a delete marker that itself expires.
func (p *presence) retire() {
	if !p.wrote {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.r.b.Retire(ctx, p.rec.ID, p.ttl); err != nil {
		p.r.log.Warn().Err(err).Msg("delete worker record; it expires by itself")
	}
}

// warn logs a failed beat once until a beat succeeds again.
func (p *presence) warn(err error) {
	if !p.warned {
		p.r.log.Warn().Err(err).Msg("worker heartbeat")
		p.warned = true
	}
}

// moduleVersion is strand's module version in this binary, or "dev".
var moduleVersion = sync.OnceValue(func() string {
	const mod = "github.com/strand-run/strand"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := ""
	if bi.Main.Path == mod {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			v = d.Version
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
})

// workerHost is the host name as a worker id part: characters that a KV
// key or subject token does not allow (such as the dots of a domain name)
// become '_'.
func workerHost() string {
	host, _ := os.Hostname()
	if host == "" {
		return "worker"
	}
	return strings.Map(func(c rune) rune {
		if c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return c
		}
		return '_'
	}, host)
}

var validWorkerID = regexp.MustCompile(`^[-_=A-Za-z0-9]{1,128}$`)

// checkWorkerID refuses a worker id that cannot be a key of the workers bucket.
func checkWorkerID(id string) error {
	if !validWorkerID.MatchString(id) {
		return fmt.Errorf("worker id %q: want 1-128 characters of A-Z a-z 0-9 - _ =", id)
	}
	return nil
}
