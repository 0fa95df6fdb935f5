// Package pythontest checks the Python producer in this directory, a use
// of the strand_client package (clients/python): the bytes strand_client
// sends are written here as literals, checked against its encoder when
// Python's msgpack is installed, and run by a real worker; and, where
// nats-py is installed (pip install ./clients/python), the scripts run
// against a real server and worker as a user would run them.
package pythontest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
)

// sent is what strand_client publishes for a task: payload, Content-Type and
// the Python call that builds it (run by TestPythonEncoder).
type sent struct {
	id, contentType, fn string
	payload             []byte
	python              string
	result              int // what the worker's fn returns for it
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var pythonSent = []sent{
	{
		// msgpack.packb({"v": 2, "id": "py-msgpack-1", "func": "add", "args": [2, 3],
		//                "queue": "default", "created": 1767225600000})
		id: "py-msgpack-1", contentType: "application/msgpack", fn: "add", result: 5,
		payload: mustHex("86a17602a26964ac70792d6d73677061636b2d31a466756e63a3616464a461726773920203" +
			"a57175657565a764656661756c74a763726561746564cf0000019b76daa800"),
		python: `w.envelope("add", [2, 3], task_id="py-msgpack-1", created_ms=1767225600000), w.MSGPACK`,
	},
	{
		id: "py-json-1", contentType: "application/json", fn: "add", result: 5,
		payload: []byte(`{"v":2,"id":"py-json-1","func":"add","args":[2,3],"queue":"default","created":1767225600000}`),
		python:  `w.envelope("add", [2, 3], task_id="py-json-1", created_ms=1767225600000), w.JSON`,
	},
	{
		// With kwargs, for a handler that takes them, and options: keys in
		// the order of the protocol's table.
		id: "py-kwargs-1", contentType: "application/msgpack", fn: "scaled_add", result: 50,
		payload: mustHex("8aa17602a26964ab70792d6b77617267732d31a466756e63aa7363616c65645f616464a461726773920203" +
			"a66b776172677381a57363616c650aa57175657565a764656661756c74a763726561746564cf0000019b76daa800" +
			"aa74696d656f75745f6d73cd7530ac6d61785f617474656d70747303a46d65746181a475736572a3616e6e"),
		python: `w.envelope("scaled_add", [2, 3], task_id="py-kwargs-1", kwargs={"scale": 10}, timeout_ms=30000, ` +
			`max_attempts=3, meta={"user": "ann"}, created_ms=1767225600000), w.MSGPACK`,
	},
}

// TestEnvelopeBytes: strand's codec reads what strand_client sends.
func TestEnvelopeBytes(t *testing.T) {
	t.Parallel()
	for _, s := range pythonSent {
		f, err := codec.ParseContentType(s.contentType)
		if err != nil {
			t.Fatal(err)
		}
		env, err := codec.DecodeEnvelope(f, s.payload)
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		if env.V != codec.Version || env.ID != s.id || env.Func != s.fn || env.Queue != "default" ||
			env.Created != 1767225600000 || len(env.Args) != 2 {
			t.Errorf("%s: decoded %+v", s.id, env)
		}
	}
}

// TestPythonEncoder runs strand_client's encoder and compares its bytes
// with the literals. It needs a python3 with msgpack; without one it skips,
// except in CI.
func TestPythonEncoder(t *testing.T) {
	t.Parallel()
	py := pythonWithMsgpack()
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no python3 with msgpack in CI (pip install ./clients/python)")
		}
		t.Skip("no python3 with msgpack")
	}
	for _, s := range pythonSent {
		script := "import sys\nfrom strand_client import _wire as w\nenv, ct = " + s.python + "\n" +
			"sys.stdout.write(ct + ' ' + w.encode(env, ct).hex())\n"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, py, "-c", script)
		cmd.Env = pythonEnv()
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.id, err, out)
		}
		if want := s.contentType + " " + hex.EncodeToString(s.payload); string(out) != want {
			t.Errorf("%s: strand_client sends\n%s\nwant\n%s", s.id, out, want)
		}
	}
}

// pythonEnv is the environment of a python3 that imports strand_client
// from this checkout (clients/python/src), whatever version is installed.
func pythonEnv() []string {
	src, err := filepath.Abs("../../clients/python/src")
	if err != nil {
		panic(err)
	}
	path := src
	if p := os.Getenv("PYTHONPATH"); p != "" {
		path += string(filepath.ListSeparator) + p
	}
	return append(os.Environ(), "PYTHONPATH="+path, "PYTHONDONTWRITEBYTECODE=1")
}

// pythonWithMsgpack is a python3 that imports msgpack, or "".
func pythonWithMsgpack() string { return pythonWith("msgpack") }

// pythonWith is a python3 that imports every module of mods, or "".
func pythonWith(mods ...string) string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import "+strings.Join(mods, ", ")).Run() == nil {
			return py
		}
	}
	return ""
}

// TestWorkerRunsPythonBytes publishes strand_client's bytes with its
// headers to a real server and waits for the outcome as strand_client
// does; a second publish on the subject of a queued task is refused with
// 10077, which strand_client reports as a duplicate.
func TestWorkerRunsPythonBytes(t *testing.T) {
	t.Parallel()
	srv := startWorker(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	publish := func(queue string, s sent) error {
		msg := nats.NewMsg("strand.t." + queue + "." + s.id)
		msg.Data = s.payload
		msg.Header.Set("Nats-TTL", "336h0m0s")
		msg.Header.Set("Content-Type", s.contentType)
		msg.Header.Set("Strand-Func", s.fn)
		_, err := js.PublishMsg(ctx, msg)
		return err
	}
	for _, s := range pythonSent {
		sub, err := nc.SubscribeSync("strand.evt.*.default." + s.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := publish("default", s); err != nil {
			t.Fatalf("%s: publish: %v", s.id, err)
		}
		var data []byte
		for data == nil {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				t.Fatalf("%s: no outcome: %v", s.id, err)
			}
			kind := strings.Split(m.Subject, ".")[2]
			if kind != "s" && len(m.Data) > 0 && m.Header.Get("KV-Operation") == "" && m.Header.Get("Nats-Marker-Reason") == "" {
				if kind != "r" {
					t.Fatalf("%s: a %s event first", s.id, kind)
				}
				data = m.Data
			}
		}
		_ = sub.Unsubscribe()
		out, f, err := codec.DecodeOutcome(data)
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		if want, _ := codec.ParseContentType(s.contentType); f != want {
			t.Errorf("%s: outcome in %v, want %v", s.id, f, want)
		}
		if out.Status != "completed" || strings.TrimSpace(string(out.Result)) != string(mustResult(t, f, s.result)) {
			t.Errorf("%s: outcome %s %q (%v), want completed %d", s.id, out.Status, out.Result, out.Error, s.result)
		}
	}
	// No worker runs queue "later": the task stays queued, and a second
	// publish on its subject is refused.
	if err := publish("later", pythonSent[0]); err != nil {
		t.Fatal(err)
	}
	var apiErr *jetstream.APIError
	if err := publish("later", pythonSent[0]); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("resubmit of a queued task: %v, want error code 10077", err)
	}
}

// TestPythonClient runs the scripts with nats-py against a real server and
// worker. Without nats-py it skips, except in CI: .ci/run installs
// ./clients/python with pip.
func TestPythonClient(t *testing.T) {
	t.Parallel()
	py := pythonWith("nats", "msgpack")
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no python3 with nats-py and msgpack in CI (pip install ./clients/python)")
		}
		t.Skip("no python3 with nats-py and msgpack (pip install ./clients/python)")
	}
	srv := startWorker(t)
	for _, step := range []struct {
		script  []string
		wantOut string
		wantErr string
	}{
		{script: []string{"submit.py"}, wantOut: "5"},
		{script: []string{"submit.py", "--json", "--id", "py-json", "add", "2", "3"}, wantOut: "5"},
		{script: []string{"submit.py", "--json", "echo", `{"a":[1,"x",null]}`}, wantOut: `{"a": [1, "x", null]}`},
		{script: []string{"submit.py", "echo", `{"a":[1,"x",null]}`}, wantOut: `{"a": [1, "x", null]}`},
		{script: []string{"submit.py", "--kwargs", `{"scale": 10}`, "scaled_add", "2", "3"}, wantOut: "50"},
		{script: []string{"submit.py", "--kwargs", `{"scale": 10}`, "add", "2", "3"}, wantErr: "add: takes no kwargs"},
		{script: []string{"submit.py", "nosuch", "1"}, wantErr: "nosuch: unknown function"},
		{script: []string{"submit.py", "--json", "fail", "boom"}, wantErr: "fail: boom"},
		{script: []string{"status.py", "py-json"}, wantOut: "completed"},
		{script: []string{"status.py", "py-json", "default"}, wantOut: "completed"},
		{script: []string{"status.py", "never-submitted"}, wantOut: "unknown"},
		{script: []string{"submit.py", "--json", "--id", "py-json", "add", "2", "3"}, wantErr: "duplicate task id py-json"},
		{script: []string{"submit.py", "--queue", "later", "--no-wait", "--id", "py-q", "add", "1", "1"}, wantOut: "py-q"},
		{script: []string{"submit.py", "--queue", "later", "--no-wait", "--id", "py-q", "add", "1", "1"}, wantErr: "duplicate task id py-q"},
		{script: []string{"status.py", "py-q"}, wantOut: "pending"},
		{script: []string{"cancel.py", "py-q"}, wantOut: "cancelled"},
		{script: []string{"status.py", "py-q", "later"}, wantOut: "cancelled"},
		{script: []string{"cancel.py", "py-q"}, wantErr: "the task has finished (cancelled)"},
		{script: []string{"cancel.py", "never-submitted"}, wantErr: "task never-submitted not found"},
		{script: []string{"submit.py", "count", "3"}, wantOut: "0\n1\n2"},
		{script: []string{"submit.py", "--timeout", "1", "add", "1", "2"}, wantErr: "unknown flag --timeout"},
		{script: []string{"submit.py", "--id", "bad id", "add", "1", "2"}, wantErr: "task id 'bad id'"},
		{script: []string{"submit.py", "--result-ttl", "1", "--id", "py-exp", "add", "1", "2"}, wantOut: "3"},
	} {
		out, errOut, err := runPython(t, py, srv, step.script...)
		if step.wantErr != "" {
			if err == nil || !strings.Contains(errOut, step.wantErr) {
				t.Fatalf("python3 %v: err %v, stderr %q; want %q", step.script, err, errOut, step.wantErr)
			}
		} else if err != nil || out != step.wantOut {
			t.Fatalf("python3 %v: %q, err %v, stderr %q; want %q", step.script, out, err, errOut, step.wantOut)
		}
	}
	// Its outcome kept 1 s: then the task reads unknown, and a cancel is refused.
	deadline := time.Now().Add(time.Minute)
	for {
		out, errOut, err := runPython(t, py, srv, "status.py", "py-exp", "default")
		if err != nil {
			t.Fatalf("status: %v, %q", err, errOut)
		}
		if out == "unknown" {
			break
		}
		if out != "completed" || time.Now().After(deadline) {
			t.Fatalf("status %q, want completed until it expires, then unknown", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, errOut, err := runPython(t, py, srv, "cancel.py", "py-exp", "default"); err == nil || !strings.Contains(errOut, "not found") {
		t.Fatalf("cancel after expiry: err %v, stderr %q; want not found", err, errOut)
	}
}

// runPython runs py with args in this directory against srv, and returns
// its trimmed stdout and stderr.
func runPython(t *testing.T, py string, srv *server.Server, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Env = append(pythonEnv(), "STRAND_SERVER="+srv.URL(), "STRAND_PREFIX=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("python3 %v: still running after 2 minutes; stderr %q", args, errOut.String())
	}
	return strings.TrimSpace(out.String()), strings.TrimSpace(errOut.String()), err
}

func mustResult(t *testing.T, f codec.Format, v any) []byte {
	t.Helper()
	b, err := f.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startWorker starts a server and a worker with the demo functions (which
// include scaled_add, for kwargs) on queue default, and returns once the queue's consumer (and so the bucket) exists.
func startWorker(t *testing.T) *server.Server {
	t.Helper()
	srv := brokertest.Start(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(brokertest.Connect(t, srv, broker.Config{}), reg, reader.Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	js, err := jetstream.New(brokertest.Connect(t, srv, broker.Config{}).Conn())
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	for {
		if _, err := js.Consumer(wctx, "STRAND_TASKS", "strand-default"); err == nil {
			return srv
		} else if wctx.Err() != nil {
			t.Fatalf("the worker's consumer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
