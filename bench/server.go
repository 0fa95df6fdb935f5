package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The soak's server is a nats-server process of its own, so that its RSS
// is the server's alone: the bench builds the binary from the module graph
// (github.com/nats-io/nats-server/v2, the version strand's go.mod pins),
// starts it with JetStream on a temporary store dir, reads VmRSS from
// /proc/<pid>/status, and stops it by its PID.

// benchModule is the bench's module path: go build of nats-server runs in
// the directory whose go.mod declares it.
const benchModule = "github.com/strand-run/strand/bench"

// buildNATSServer builds nats-server into dir and returns its path. It runs
// go build in the bench module (the working directory, else the directory
// this file was compiled from), so the binary is the version of the
// module graph, built from the module cache.
func buildNATSServer(ctx context.Context, dir string) (string, error) {
	var modDir string
	cands := []string{"."}
	if _, file, _, ok := runtime.Caller(0); ok {
		cands = append(cands, filepath.Dir(file))
	}
	for _, c := range cands {
		b, err := os.ReadFile(filepath.Join(c, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+benchModule+"\n") {
			modDir = c
			break
		}
	}
	if modDir == "" {
		return "", errors.New("build nats-server: run from bench/ (its go.mod) or pass -nats-server")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") == "" {
			return "", fmt.Errorf("build nats-server: no go in PATH: %w", err)
		}
	}
	out := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/nats-io/nats-server/v2")
	cmd.Dir = modDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server: %w\n%s", err, b)
	}
	return out, nil
}

// extServer is a running nats-server process.
type extServer struct {
	bin      string
	env      []string // added to the bench's environment ("GOGC=50", …)
	cmd      *exec.Cmd
	pid      string
	storeDir string
	url      string
	profURL  string // the server's pprof (its --profile port)
	logPath  string
	exited   chan struct{}
	waitErr  error
}

// startExtServer starts bin with JetStream on a new store dir under dir:
// nats-server -a 127.0.0.1 -p PORT -js -sd DIR --profile PORT2, with env
// added to the environment (GOGC, GOMEMLIMIT and GODEBUG are not passed on
// from the bench's own). It returns once the server takes connections
// and JetStream answers.
func startExtServer(ctx context.Context, bin, dir string, env []string) (*extServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	prof, err := freePort()
	if err != nil {
		return nil, err
	}
	store, err := os.MkdirTemp(dir, "store-")
	if err != nil {
		return nil, err
	}
	s := &extServer{bin: bin, env: env, storeDir: store, exited: make(chan struct{}),
		url:     "nats://127.0.0.1:" + strconv.Itoa(port),
		profURL: "http://127.0.0.1:" + strconv.Itoa(prof) + "/debug/pprof/",
		logPath: store + ".log"}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", store, "--profile", strconv.Itoa(prof))
	s.cmd.Env = append(serverEnviron(), env...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.pid = strconv.Itoa(s.cmd.Process.Pid)
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	if err := s.ready(ctx); err != nil {
		s.stop()
		return nil, fmt.Errorf("nats-server (pid %s): %w; its log: %s", s.pid, err, s.tail())
	}
	return s, nil
}

// serverEnviron is the bench's environment less the Go runtime's memory
// settings, so that "the default" is the runtime's defaults whatever the
// bench runs with.
func serverEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOGC" && k != "GOMEMLIMIT" && k != "GODEBUG" {
			env = append(env, kv)
		}
	}
	return env
}

// ready waits (up to 15s) until JetStream answers on the server.
func (s *extServer) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("exited: %v", s.waitErr)
		default:
		}
		if nc, err := nats.Connect(s.url, nats.Timeout(time.Second)); err == nil {
			js, jerr := jetstream.New(nc)
			if jerr == nil {
				_, jerr = js.AccountInfo(ctx)
			}
			nc.Close()
			if jerr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the process (SIGKILL after 15s), then
// removes its store dir.
func (s *extServer) stop() error {
	defer os.RemoveAll(s.storeDir)
	select {
	case <-s.exited:
		return s.exitErr()
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.exitErr()
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("nats-server (pid %s) did not stop in 15s of SIGTERM: killed", s.pid)
	}
}

// exitErr is the process's exit, once it has: a SIGTERM exit is no error.
func (s *extServer) exitErr() error {
	var ee *exec.ExitError
	if errors.As(s.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return s.waitErr
}

// alive reports an error once the process has gone.
func (s *extServer) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("nats-server (pid %s) exited: %v; its log: %s", s.pid, s.waitErr, s.tail())
	default:
		return nil
	}
}

// tail is the end of the server's log.
func (s *extServer) tail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// sample is the server process's VmRSS and its store dir's size, as they
// are: nothing is asked of the server. Registry is the size of the worker
// registry's stream of the strand prefixes the soak uses.
func (s *extServer) sample() Sample {
	smp := Sample{RSS: procStatus(s.pid, "VmRSS"), Disk: dirSize(s.storeDir),
		Anon: procStatus(s.pid, "RssAnon"), File: procStatus(s.pid, "RssFile") + procStatus(s.pid, "RssShmem")}
	for _, p := range []string{"bs", "bz"} {
		smp.Registry += dirSize(filepath.Join(s.storeDir, "jetstream", "$G", "streams", workersStream(p)))
	}
	return smp
}

// HeapStats is the server's Go runtime.MemStats (bytes), from its pprof
// heap endpoint.
type HeapStats struct {
	HeapAlloc    int64 `json:"heap_alloc"`    // live objects (and garbage not yet collected)
	HeapInuse    int64 `json:"heap_inuse"`    // spans holding objects
	HeapIdle     int64 `json:"heap_idle"`     // spans free
	HeapReleased int64 `json:"heap_released"` // of those, given back to the OS
	StackInuse   int64 `json:"stack_inuse"`
	GCSys        int64 `json:"gc_sys"` // GC metadata
	OtherSys     int64 `json:"other_sys"`
	Sys          int64 `json:"sys"` // everything mapped from the OS
	NextGC       int64 `json:"next_gc"`
	NumGC        int64 `json:"num_gc"`
}

// Retained is what the heap holds from the OS: spans in use and free
// spans not yet given back.
func (h HeapStats) Retained() int64 { return h.HeapInuse + h.HeapIdle - h.HeapReleased }

// memStats reads the server's MemStats through GET heap?debug=1. With gc
// it first forces two GCs (heap?gc=1; the second drops what sync.Pools
// kept through the first), which changes what the server holds: do that
// only once the samples it would disturb are taken. Without gc it only
// reads (the server stops the world for ReadMemStats and writes a profile
// of some kB).
func (s *extServer) memStats(ctx context.Context, gc bool) (HeapStats, error) {
	var h HeapStats
	q, n := "heap?debug=1", 1
	if gc {
		q, n = "heap?gc=1&debug=1", 2
	}
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.profURL+q, nil)
		if err != nil {
			return h, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return h, fmt.Errorf("server heap: %w", err)
		}
		h, err = parseMemStats(resp.Body)
		resp.Body.Close()
		if err != nil {
			return h, err
		}
	}
	return h, nil
}

// parseMemStats reads the "# HeapAlloc = N" lines of a debug=1 heap
// profile ("# Stack = inuse / sys" for the stacks).
func parseMemStats(r io.Reader) (HeapStats, error) {
	var h HeapStats
	fields := map[string]*int64{"HeapAlloc": &h.HeapAlloc, "HeapInuse": &h.HeapInuse, "HeapIdle": &h.HeapIdle,
		"HeapReleased": &h.HeapReleased, "Stack": &h.StackInuse, "GCSys": &h.GCSys, "OtherSys": &h.OtherSys,
		"Sys": &h.Sys, "NextGC": &h.NextGC, "NumGC": &h.NumGC}
	seen := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if p := fields[k]; ok && p != nil {
			v, _, _ = strings.Cut(v, " ")
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				*p = n
				seen++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return h, err
	}
	if seen < len(fields) {
		return h, errors.New("server heap: no runtime.MemStats in the heap profile")
	}
	return h, nil
}

// saveHeapProfile writes the server's heap profile (after a GC) to path.
func (s *extServer) saveHeapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.profURL+"heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
