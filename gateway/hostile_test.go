package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// hostileEnv is a gateway served as strand serves it (Server, Listen) on a
// real listener, with a token and short limits.
type hostileEnv struct {
	*env
	ll  *limitListener
	lim Limits
}

func startHostile(t *testing.T, lim Limits) *hostileEnv {
	t.Helper()
	_, b := brokertest.New(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{Concurrency: 4, RunningAfter: -1, ShutdownTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim = lim.withDefaults()
	lim.ShutdownTimeout = time.Millisecond // the test's end closes what is left
	ll := listen(l, lim)
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(sctx, ll, New(w, b, Config{Token: "s3cret"}), lim) }()
	t.Cleanup(func() { stop(); <-served })
	return &hostileEnv{env: &env{t: t, url: "http://" + l.Addr().String(), token: "s3cret"}, ll: ll, lim: lim}
}

// raw sends a request as raw bytes from the local address from (a
// loopback address) and returns the status line's code, or an error.
func (e *hostileEnv) raw(from string, head string, body func(net.Conn)) (int, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(e.lim.BodyTimeout + 5*time.Second))
	if _, err := c.Write([]byte(head)); err != nil {
		return 0, err
	}
	got := make(chan struct{})
	if body != nil {
		go func() { body(c) }()
	}
	defer close(got)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", err)
	}
	var code int
	if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &code); err != nil {
		return 0, fmt.Errorf("answer %q: %w", line, err)
	}
	return code, nil
}

func TestHostileBodies(t *testing.T) {
	t.Parallel()
	e := startHostile(t, Limits{})
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"invalid UTF-8 in func", "{\"func\": \"ec\xffho\", \"args\": [1]}", 400},
		{"invalid UTF-8 in args", "{\"func\": \"echo\", \"args\": [\"a\xfe\xfd\"]}", 400},
		{"invalid UTF-8 in a key", "{\"func\": \"echo\", \"kwargs\": {\"\xc3\": 1}}", 400},
		{"lone surrogate", `{"func": "echo", "args": ["\ud800"]}`, 400},
		{"lone low surrogate", `{"func": "echo", "args": ["x\udc00"]}`, 400},
		{"surrogate pair", `{"func": "echo", "args": ["\ud83d\ude00"]}`, 201},
		{"escaped backslash u", `{"func": "echo", "args": ["\\ud800"]}`, 201},
		{"above uint64", `{"func": "echo", "args": [18446744073709551616]}`, 400},
		{"below int64", `{"func": "echo", "args": [-9223372036854775809]}`, 400},
		{"huge in kwargs", `{"func": "echo", "kwargs": {"n": [1, 123456789012345678901234567890]}}`, 400},
		{"uint64 max", `{"func": "echo", "args": [18446744073709551615]}`, 201},
		{"int64 min", `{"func": "echo", "args": [-9223372036854775808]}`, 201},
		{"huge float is a float", `{"func": "echo", "args": [1e300]}`, 201},
		{"huge max_attempts", `{"func": "echo", "max_attempts": 99999999999999999999}`, 400},
		{"huge timeout", `{"func": "echo", "timeout": 1e30}`, 400},
	} {
		code, body := e.do("POST", "/v1/tasks", tc.body)
		if code != tc.code {
			t.Errorf("%s: %d, want %d: %v", tc.name, code, tc.code, body)
		}
	}
}

func TestUnauthenticatedAnsweredBeforeBody(t *testing.T) {
	t.Parallel()
	e := startHostile(t, Limits{})
	start := time.Now()
	code, err := e.raw("127.0.0.1", "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", nil)
	if err != nil || code != http.StatusUnauthorized {
		t.Fatalf("no token, pending body: %d, %v", code, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("401 after %v", d)
	}
}

// TestHostileClients is the attack of issue 14: 300 slow bodies, half
// without the token, from one address, and 40 bodies with invalid UTF-8 or
// oversized integers from another, while a good client from a third
// address checks /healthz and submits a task. Every attacker gets its
// 4xx, the good client is never starved, and the server never holds more
// connections than its cap (so never more file descriptors than that).
func TestHostileClients(t *testing.T) {
	t.Parallel()
	const attackers = 300
	lim := Limits{BodyTimeout: 2 * time.Second, ReadHeaderTimeout: 2 * time.Second, MaxConns: 200, MaxConnsPerIP: 48}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// The attackers' own sockets are in this process too: 300 of them, the
	// server's side at most MaxConns.
	if need := uint64(attackers + lim.MaxConns + 256); rl.Cur < need {
		rl.Cur = min(need, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < need {
			t.Fatalf("this test needs %d file descriptors (ulimit -n), has %d: %v", need, rl.Cur, err)
		}
	}
	e := startHostile(t, lim)

	var peak atomic.Int64
	stopPeak := make(chan struct{})
	var peakDone sync.WaitGroup
	peakDone.Go(func() {
		for {
			e.ll.mu.Lock()
			n := int64(e.ll.total)
			e.ll.mu.Unlock()
			if n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stopPeak:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	codes := make(chan string, attackers)
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Go(func() {
			auth := "Bearer wrong"
			if i%2 == 0 {
				auth = "Bearer s3cret"
			}
			head := "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
			code, err := e.raw("127.0.0.2", head, func(c net.Conn) {
				for range 100 { // a byte every 100ms: 10 s for the 1000 announced
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
			codes <- fmt.Sprintf("%s %d %v", auth[7:], code, err)
		})
	}

	// Bad bodies during the attack, from a third address: invalid UTF-8 and
	// integers beyond 64 bits, with the token; each gets its 400.
	bad := make(chan string, 40)
	var badWG sync.WaitGroup
	for i := range 40 {
		badWG.Go(func() {
			body := "{\"func\": \"echo\", \"args\": [\"\xff\xfe\"]}"
			if i%2 == 1 {
				body = `{"func": "echo", "args": [123456789012345678901234567890]}`
			}
			head := fmt.Sprintf("POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			code, err := e.raw("127.0.0.3", head, nil)
			if code != http.StatusBadRequest {
				bad <- fmt.Sprintf("bad body %d: %d %v", i, code, err)
			}
		})
	}

	// The good client, from 127.0.0.1, during the attack.
	time.Sleep(300 * time.Millisecond)
	attackDone := make(chan struct{})
	go func() { wg.Wait(); close(attackDone) }()
	hc := &http.Client{Timeout: 2 * time.Second}
	var healthy, checks int
	submitted := make(chan map[string]any, 1)
	go func() {
		_, body := e.do("POST", "/v1/tasks?wait=10s", `{"func": "add", "args": [2, 3]}`)
		submitted <- body
	}()
	var result map[string]any
poll:
	for {
		select {
		case <-attackDone:
			break poll
		case result = <-submitted:
		case <-time.After(100 * time.Millisecond):
		}
		checks++
		resp, err := hc.Get(e.url + "/healthz")
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				healthy++
			}
			resp.Body.Close()
		}
	}
	if result == nil {
		result = <-submitted
	}
	close(stopPeak)
	peakDone.Wait()
	close(codes)
	badWG.Wait()
	close(bad)
	for b := range bad {
		t.Error(b)
	}

	if healthy != checks || checks < 10 {
		t.Errorf("/healthz answered 200 to %d of %d checks during the attack", healthy, checks)
	}
	if result["status"] != "completed" || fmt.Sprint(result["result"]) != "5" {
		t.Errorf("the good task during the attack: %v", result)
	}
	tally := map[string]int{}
	for c := range codes {
		tally[c]++
		var who string
		var code int
		fmt.Sscanf(c, "%s %d", &who, &code)
		ok := code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable ||
			(who == "wrong" && code == http.StatusUnauthorized) || (who == "s3cret" && code == http.StatusRequestTimeout)
		if !ok {
			t.Errorf("attacker: %s", c)
		}
	}
	t.Logf("attackers' answers: %v; good client: %d/%d health checks, task %v; peak connections held %d (cap %d)",
		tally, healthy, checks, result["status"], peak.Load(), lim.MaxConns)
	if p := peak.Load(); p > int64(lim.MaxConns) {
		t.Errorf("peak connections %d above the cap %d", p, lim.MaxConns)
	}
}
