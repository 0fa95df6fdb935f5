// Package pythontest checks the Python producer in this directory without
// nats-py, which neither Debian nor this machine provides: the bytes
// strand.py sends are written here as literals, checked against the Python
// encoder when Python's msgpack is installed, and run by a real worker.
package pythontest

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
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
)

// sent is what strand.py publishes for a task: payload, Content-Type and
// the Python call that builds it (run by TestPythonEncoder).
type sent struct {
	id, contentType string
	payload         []byte
	python          string
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
		// msgpack.packb({"v": 1, "id": "py-msgpack-1", "func": "add", "args": [2, 3],
		//                "queue": "default", "created": 1767225600000})
		id: "py-msgpack-1", contentType: "application/msgpack",
		payload: mustHex("86a17601a26964ac70792d6d73677061636b2d31a466756e63a3616464a461726773920203" +
			"a57175657565a764656661756c74a763726561746564cf0000019b76daa800"),
		python: `envelope("add", [2, 3], task_id="py-msgpack-1", created=1767225600000)`,
	},
	{
		id: "py-json-1", contentType: "application/json",
		payload: []byte(`{"v":1,"id":"py-json-1","func":"add","args":[2,3],"queue":"default","created":1767225600000}`),
		python:  `envelope("add", [2, 3], task_id="py-json-1", created=1767225600000), use_json=True`,
	},
	{
		// With kwargs and options: keys in the order of the protocol's table.
		id: "py-kwargs-1", contentType: "application/msgpack",
		payload: mustHex("8aa17601a26964ab70792d6b77617267732d31a466756e63a3616464a461726773920203" +
			"a66b776172677381a57363616c650aa57175657565a764656661756c74a763726561746564cf0000019b76daa800" +
			"aa74696d656f75745f6d73cd7530ac6d61785f617474656d70747303a46d65746181a475736572a3616e6e"),
		python: `envelope("add", [2, 3], task_id="py-kwargs-1", kwargs={"scale": 10}, timeout_ms=30000, ` +
			`max_attempts=3, meta={"user": "ann"}, created=1767225600000)`,
	},
}

// TestEnvelopeBytes: strand's codec reads what strand.py sends.
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
		if env.V != 1 || env.ID != s.id || env.Func != "add" || env.Queue != "default" ||
			env.Created != 1767225600000 || len(env.Args) != 2 {
			t.Errorf("%s: decoded %+v", s.id, env)
		}
	}
}

// TestPythonEncoder runs strand.py's encoder and compares its bytes with the
// literals. It needs a python3 with msgpack (Debian: python3-msgpack);
// without one it skips, except in CI.
func TestPythonEncoder(t *testing.T) {
	t.Parallel()
	py := pythonWithMsgpack()
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no python3 with msgpack in CI (apt-get install python3-msgpack)")
		}
		t.Skip("no python3 with msgpack")
	}
	for _, s := range pythonSent {
		script := "import strand, sys\npayload, ct = strand.encode_envelope(strand." + s.python + ")\n" +
			"sys.stdout.write(ct + ' ' + payload.hex())\n"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, py, "-c", script).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.id, err, out)
		}
		if want := s.contentType + " " + hex.EncodeToString(s.payload); string(out) != want {
			t.Errorf("%s: strand.py sends\n%s\nwant\n%s", s.id, out, want)
		}
	}
}

// pythonWithMsgpack is a python3 that imports msgpack, or "".
func pythonWithMsgpack() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import msgpack").Run() == nil {
			return py
		}
	}
	return ""
}

// TestWorkerRunsPythonBytes publishes strand.py's bytes with its headers to
// a real server and waits for the outcome as strand.py does.
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
	for _, s := range pythonSent[:2] { // the worker's add takes no kwargs
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sub, err := nc.SubscribeSync("strand.evt.r." + s.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg("$KV.STRAND.t.default." + s.id)
		msg.Data = s.payload
		msg.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
		msg.Header.Set("Nats-TTL", "336h0m0s")
		msg.Header.Set("Content-Type", s.contentType)
		msg.Header.Set("Strand-Func", "add")
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("%s: publish: %v", s.id, err)
		}
		var data []byte
		for data == nil {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				t.Fatalf("%s: no outcome: %v", s.id, err)
			}
			if len(m.Data) > 0 && m.Header.Get("KV-Operation") == "" && m.Header.Get("Nats-Marker-Reason") == "" {
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
		if out.Status != "completed" || strings.TrimSpace(string(out.Result)) != string(mustResult(t, f, 5)) {
			t.Errorf("%s: outcome %s %q, want completed 5", s.id, out.Status, out.Result)
		}
		// A second submit of the id is refused with 10071, as strand.py expects.
		var apiErr *jetstream.APIError
		if _, err := js.PublishMsg(ctx, msg); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10071 {
			t.Errorf("%s: resubmit: %v, want error code 10071", s.id, err)
		}
	}
}

func mustResult(t *testing.T, f codec.Format, v any) []byte {
	t.Helper()
	b, err := f.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startWorker starts a server and a worker with the demo functions on queue
// default, and returns once the queue's consumer (and so the bucket) exists.
func startWorker(t *testing.T) *broker.Server {
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
		if _, err := js.Consumer(wctx, "KV_STRAND", "strand-default"); err == nil {
			return srv
		} else if wctx.Err() != nil {
			t.Fatalf("the worker's consumer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
