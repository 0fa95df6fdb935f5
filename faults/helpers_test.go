package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/supervise"
	"github.com/strand-run/strand/writer"
)

// bin is the strand binary TestMain builds for the whole package.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	short := false
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" {
			short = true
		}
	}
	if short {
		return m.Run() // every test skips; nothing to build
	}
	dir, err := os.MkdirTemp("", "strand-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "strand")
	gotool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(os.Stderr, "no go command in PATH: %v\n", err)
		return 1
	}
	build := exec.Command(gotool, "build", "-o", bin, "github.com/strand-run/strand/cmd/strand")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/strand: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// needProcesses skips t under -short: it builds on the binary and runs processes.
func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the strand binary as processes")
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cleanEnv is the environment without STRAND_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRAND_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer is a bytes.Buffer that a process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one strand process a test started, run by package supervise.
// Cleanup SIGKILLs it by PID if it still runs.
type proc struct {
	t    *testing.T
	name string
	sp   *supervise.Process
	out  *lockedBuffer // stdout and stderr together
}

// start runs the binary with args and env (STRAND_* cleared, then extra),
// and waits until a line of its output contains ready ("" = do not wait).
func start(t *testing.T, name, ready string, env []string, args ...string) *proc {
	t.Helper()
	p, err := tryStart(t, name, ready, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tryStart(t *testing.T, name, ready string, env []string, args ...string) (*proc, error) {
	t.Helper()
	p := &proc{t: t, name: name, out: new(lockedBuffer)}
	spec := supervise.Spec{
		Path: bin, Args: args, Environ: cleanEnv(env...), Stdout: p.out, Stderr: p.out,
		ReadyTimeout: 60 * time.Second, ProbeEvery: 10 * time.Millisecond,
	}
	if ready != "" {
		spec.Ready = func(context.Context) error {
			if strings.Contains(p.out.String(), ready) {
				return nil
			}
			return fmt.Errorf("no %q in its output yet", ready)
		}
	}
	sp, err := supervise.Start(context.Background(), spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %v:\n%s", name, err, p.out.String())
	}
	p.sp = sp
	t.Cleanup(func() {
		if p.alive() {
			_ = syscall.Kill(p.pid(), syscall.SIGKILL)
			<-p.sp.Done()
		}
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", p.name, p.pid(), p.out.String())
		}
	})
	return p, nil
}

func (p *proc) pid() int { return p.sp.PID() }

// alive reports whether the process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.sp.Done():
		return false
	default:
		return true
	}
}

// signal sends sig to the process, by its PID.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.pid(), sig); err != nil {
		p.t.Fatalf("signal %v to %s (pid %d): %v", sig, p.name, p.pid(), err)
	}
}

// wait waits up to d for the process to exit and returns its exit code;
// it fails the test if the process is still running then.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.sp.Done():
	case <-time.After(d):
		p.t.Fatalf("%s (pid %d) still running after %v:\n%s", p.name, p.pid(), d, p.out.String())
	}
	var ee *exec.ExitError
	err := p.sp.Err()
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode() // -1 when killed by a signal
	}
	p.t.Fatalf("%s: %v", p.name, err)
	return -1
}

// stop sends SIGTERM and checks that the process exits 0 within d.
func (p *proc) stop(d time.Duration) {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(d); code != 0 {
		p.t.Errorf("%s exited %d after SIGTERM:\n%s", p.name, code, p.out.String())
	}
}

// server is a `strand server` process.
type server struct {
	*proc
	addr, data string
}

func (s *server) url() string { return "nats://" + s.addr }

// serverReady is what strand server prints once it accepts connections.
const serverReady = "ready; Ctrl-C to stop"

// startServer runs `strand server` on a free port with its own data dir.
func startServer(t *testing.T) *server {
	t.Helper()
	data := t.TempDir()
	for try := 0; ; try++ {
		addr := freeAddr(t)
		p, err := tryStart(t, "server", serverReady, nil, "server", "--addr", addr, "--data", data)
		if err != nil && try < 3 && strings.Contains(err.Error(), "already in use") {
			continue // another process took the port in the meantime
		}
		if err != nil {
			t.Fatal(err)
		}
		return &server{proc: p, addr: addr, data: data}
	}
}

// restart starts the server again on the same address and data dir, after
// it has exited.
func (s *server) restart(t *testing.T) {
	t.Helper()
	if s.alive() {
		t.Fatal("restart: the server is still running")
	}
	s.proc = start(t, "server (restarted)", serverReady, nil, "server", "--addr", s.addr, "--data", s.data)
}

// workerReady is logged by strand worker once it takes tasks.
const workerReady = "worker started"

// startWorker runs `strand worker` against s with id and the extra args.
func startWorker(t *testing.T, s *server, id string, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"worker", "--server", s.url(), "--worker-id", id}, args...)
	return start(t, "worker "+id, workerReady, env, args...)
}

// connect opens a broker and a writer on s for the test process; both are
// closed at cleanup without draining (the server may be gone by then).
func connect(t *testing.T, s *server, opts ...nats.Option) (*broker.Broker, *writer.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, broker.Config{URL: s.url(), Name: "faults-test"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Conn().Close)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return b, w
}

// records follows every write of states and outcomes, from the bucket's
// republished events: how often each task got an outcome or a "running"
// state, and the last of each.
type records struct {
	mu       sync.Mutex
	outcomes map[string][]*codec.Outcome // every outcome event per id, in order
	running  map[string][]*codec.State   // every "running" state event per id
	bad      []string                    // events that did not decode
	changed  chan struct{}               // signalled (not closed) after each event
}

// watch subscribes to the outcome and state events of b's deployment.
func watch(t *testing.T, b *broker.Broker) *records {
	t.Helper()
	r := &records{
		outcomes: make(map[string][]*codec.Outcome),
		running:  make(map[string][]*codec.State),
		changed:  make(chan struct{}, 1),
	}
	n := link.Core(b).Names()
	for _, subj := range []string{n.Events(ib.KindOutcome, "*"), n.Events(ib.KindCancel, "*"), n.Events(ib.KindState, "*")} {
		sub, err := b.Conn().Subscribe(subj, r.add(n))
		if err != nil {
			t.Fatal(err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *records) add(n ib.Names) nats.MsgHandler {
	return func(m *nats.Msg) {
		if len(m.Data) == 0 || m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != "" {
			return // a marker, not a record
		}
		kind, _, id, ok := n.ParseKey(m.Subject)
		if !ok {
			return
		}
		r.mu.Lock()
		switch kind {
		case ib.KindOutcome, ib.KindCancel: // a cancellation is the outcome of a cancelled task
			o, _, err := codec.DecodeOutcome(m.Data)
			if err != nil {
				r.bad = append(r.bad, fmt.Sprintf("%s: %v", m.Subject, err))
				break
			}
			r.outcomes[id] = append(r.outcomes[id], o)
		case ib.KindState:
			st, err := codec.DecodeState(m.Data)
			if err != nil {
				r.bad = append(r.bad, fmt.Sprintf("%s: %v", m.Subject, err))
				break
			}
			if st.Status == "running" {
				r.running[id] = append(r.running[id], st)
			}
		}
		r.mu.Unlock()
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// waitFor waits up to d for cond, evaluated under the lock after each event
// and every 50ms; it reports whether cond became true.
func (r *records) waitFor(d time.Duration, cond func(r *records) bool) bool {
	deadline := time.After(d)
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return false
		}
	}
}

// snapshot returns copies of the maps, for checks after the run.
func (r *records) snapshot() (outcomes map[string][]*codec.Outcome, running map[string][]*codec.State, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	outcomes = make(map[string][]*codec.Outcome, len(r.outcomes))
	for k, v := range r.outcomes {
		outcomes[k] = append([]*codec.Outcome(nil), v...)
	}
	running = make(map[string][]*codec.State, len(r.running))
	for k, v := range r.running {
		running[k] = append([]*codec.State(nil), v...)
	}
	return outcomes, running, append([]string(nil), r.bad...)
}

// waitAll waits for the outcome of every handle, each within ctx.
func waitAll(ctx context.Context, t *testing.T, hs []strand.Handle) map[string]*strand.Outcome {
	t.Helper()
	got := make(map[string]*strand.Outcome, len(hs))
	for _, h := range hs {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatalf("task %s: %v (%d of %d outcomes received)", h.ID(), err, len(got), len(hs))
		}
		got[h.ID()] = o
	}
	return got
}

// ctxFor is a context that ends after d or at cleanup.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// run runs the binary to its end (within 60s) and returns its exit code,
// stdout and stderr.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("strand %s: %v", strings.Join(args, " "), err)
	}
	return code, o.String(), e.String()
}
