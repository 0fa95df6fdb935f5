package faults_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"

	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/writer"
)

// rssKB reads a process's resident set size (VmRSS) or its peak (VmHWM) in kB.
func rssKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s %q: %v", field, line, err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// refused marks a submission the writer must refuse.
const refused = "refused at submit"

// badTask is a hostile submission and the error kind its outcome must have
// (refused when the writer must refuse it).
type badTask struct {
	call writer.Call // submitted through the writer, or
	raw  *nats.Msg   // published as is to the task's subject
	kind string
}

// hostile returns bad task number i of a mix: raw garbage and broken
// envelopes, unknown functions, wrong argument types, wrong arity, and
// oversized payloads.
func hostile(n ib.Names, i int, rng *rand.Rand) badTask {
	id := uuid.NewString()
	raw := func(data []byte, hdr ...string) badTask {
		m := &nats.Msg{Subject: n.TaskSubject("default", id), Data: data, Header: nats.Header{}}
		for j := 0; j+1 < len(hdr); j += 2 {
			m.Header.Set(hdr[j], hdr[j+1])
		}
		return badTask{raw: m, kind: string(strand.ErrMalformed)}
	}
	envelope := func(f codec.Format, env map[string]any) []byte {
		b, err := f.Marshal(env)
		if err != nil {
			panic(err)
		}
		return b
	}
	switch i % 20 {
	case 0: // random bytes, msgpack by default; or a length prefix of 4G elements
		if i%40 == 20 {
			return raw([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
		}
		b := make([]byte, 1+rng.IntN(512))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		return raw(b)
	case 1: // truncated JSON
		return raw([]byte(`{"v":1,"id":"`+id+`","func":"add","args":[1,`), "Content-Type", "application/json")
	case 2: // a content type nobody speaks
		return raw(envelope(codec.Msgpack, map[string]any{"v": 1, "id": id, "func": "add", "args": []int{1, 2}}),
			"Content-Type", "application/x-nonsense")
	case 3: // an envelope whose id is not its key's
		return raw(envelope(codec.Msgpack, map[string]any{"v": 1, "id": "not-" + id, "func": "add", "args": []int{1, 2}}))
	case 4: // arguments nested 100 000 deep; or no func
		if i%40 == 24 {
			deep := append(bytes.Repeat([]byte{0x91}, 100000), 0x01)
			return raw(envelope(codec.Msgpack, map[string]any{"v": 1, "id": id, "func": "echo", "args": []codec.Raw{deep}}))
		}
		return raw(envelope(codec.Msgpack, map[string]any{"v": 1, "id": id, "args": []int{1, 2}}))
	case 5, 6, 7, 8, 9: // unknown functions
		return badTask{call: writer.Call{Func: "nosuch" + strconv.Itoa(i%7), Args: []any{1, 2}}, kind: string(strand.ErrUnknownFunc)}
	case 10, 11: // wrong types
		return badTask{call: writer.Call{Func: "add", Args: []any{"x", 1}}, kind: string(strand.ErrBadArgs)}
	case 12, 13:
		return badTask{call: writer.Call{Func: "add", Args: []any{1, map[string]int{"a": 1}}}, kind: string(strand.ErrBadArgs)}
	case 14:
		return badTask{call: writer.Call{Func: "sleep", Args: []any{[]string{"soon"}}}, kind: string(strand.ErrBadArgs)}
	case 15, 16: // wrong arity
		return badTask{call: writer.Call{Func: "add", Args: []any{1}}, kind: string(strand.ErrBadArgs)}
	case 17, 18:
		return badTask{call: writer.Call{Func: "add", Args: []any{1, 2, 3}}, kind: string(strand.ErrBadArgs)}
	default: // larger than the server accepts: refused at submit
		return badTask{call: writer.Call{Func: "echo", Args: []any{strings.Repeat("x", 1<<20+1024)}}, kind: refused}
	}
}

// TestHostileFlood: a worker process under 10 000 hostile tasks interleaved
// with 10 000 good ones completes every good one, fails every bad one once
// with a readable error of the right kind, never redelivers, and its RSS
// after the flood stays within 2× of its RSS after a warm-up.
func TestHostileFlood(t *testing.T) {
	needProcesses(t)
	const (
		warm  = 1000
		good  = 10000
		bad   = 10000
		chunk = 500 // tasks per SubmitBatch, half good, half bad
	)
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)
	worker := startWorker(t, srv, "flood", nil, "--concurrency", "16")
	ctx := ctxFor(t, 3*time.Minute)

	// expect is every task that must end, by id: its kind ("" = completed
	// with want).
	type expectation struct {
		kind string
		want int
	}
	expect := map[string]expectation{}
	submitGood := func(from, n int) []writer.Call {
		calls := make([]writer.Call, n)
		for i := range calls {
			calls[i] = writer.Call{Func: "add", Args: []any{from + i, from + i + 1}}
		}
		return calls
	}
	waitOutcomes := func(what string) {
		t.Helper()
		if !rec.waitFor(2*time.Minute, func(r *records) bool { return len(r.outcomes) >= len(expect) }) {
			rec.mu.Lock()
			got := len(rec.outcomes)
			rec.mu.Unlock()
			t.Fatalf("%s: %d of %d outcomes after 2m", what, got, len(expect))
		}
	}

	// Warm up, then take the baseline.
	hs, errs := w.SubmitBatch(ctx, submitGood(0, warm))
	for i, h := range hs {
		if errs[i] != nil {
			t.Fatalf("warm-up submit %d: %v", i, errs[i])
		}
		expect[h.ID()] = expectation{want: 2*i + 1}
	}
	waitOutcomes("warm-up")
	time.Sleep(time.Second)
	before := rssKB(t, worker.pid(), "VmRSS")

	rng := rand.New(rand.NewPCG(4, 2))
	js := link.Core(b).JetStream()
	nRefused, rawSent := 0, 0
	var rawFuts []jetstream.PubAckFuture
	began := time.Now()
	for next, nbad := 0, 0; next < good; {
		var calls []writer.Call
		var kinds []string
		wants := map[int]int{}
		for range chunk / 2 {
			wants[len(calls)] = 2*(warm+next) + 1
			calls = append(calls, submitGood(warm+next, 1)...)
			kinds = append(kinds, "")
			next++
			bt := hostile(link.Core(b).Names(), nbad, rng)
			nbad++
			if bt.raw != nil {
				fut, err := js.PublishMsgAsync(bt.raw)
				if err != nil {
					t.Fatalf("publish raw garbage: %v", err)
				}
				rawFuts = append(rawFuts, fut)
				_, id, _ := link.Core(b).Names().ParseTaskSubject(bt.raw.Subject)
				expect[id] = expectation{kind: bt.kind}
				rawSent++
				continue
			}
			calls = append(calls, bt.call)
			kinds = append(kinds, bt.kind)
		}
		hs, errs := w.SubmitBatch(ctx, calls)
		for i, err := range errs {
			switch {
			case kinds[i] == refused && errors.Is(err, strand.ErrTooLarge):
				nRefused++
			case err != nil:
				t.Fatalf("submit %s: %v", calls[i].Func, err)
			case kinds[i] == refused:
				t.Fatalf("submit of %d bytes to echo was accepted, want strand.ErrTooLarge", len(calls[i].Args[0].(string)))
			default:
				expect[hs[i].ID()] = expectation{kind: kinds[i], want: wants[i]}
			}
		}
	}
	for _, fut := range rawFuts {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			t.Fatalf("publish raw garbage: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	submitted := time.Since(began)
	waitOutcomes("flood")
	t.Logf("flood: %d good, %d bad (%d raw garbage, %d refused at submit) submitted in %v, all outcomes after %v",
		good, bad, rawSent, nRefused, submitted.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if got := len(expect) - warm + nRefused; got != good+bad {
		t.Fatalf("accounted for %d tasks, want %d", got, good+bad)
	}

	time.Sleep(time.Second)
	after := rssKB(t, worker.pid(), "VmRSS")
	peak := rssKB(t, worker.pid(), "VmHWM")
	t.Logf("worker RSS: %d kB after warm-up, %d kB after the flood (peak %d kB)", before, after, peak)
	if after > 2*before {
		t.Errorf("worker RSS grew from %d kB to %d kB over the flood, more than 2×", before, after)
	}

	outcomes, _, badEvents := rec.snapshot()
	for _, s := range badEvents {
		t.Errorf("undecodable record event: %s", s)
	}
	shown := map[string]bool{}
	for id, e := range expect {
		writes := outcomes[id]
		if len(writes) != 1 {
			t.Errorf("task %s: %d outcome writes, want exactly 1", id, len(writes))
			continue
		}
		o := writes[0]
		if o.Attempt != 1 {
			t.Errorf("task %s: outcome of attempt %d, want 1 (no redelivery)", id, o.Attempt)
		}
		if e.kind == "" {
			var sum int
			if o.Status != "completed" {
				t.Errorf("good task %s: %s %+v, want completed", id, o.Status, o.Error)
			} else if err := codec.Msgpack.Unmarshal(o.Result, &sum); err != nil || sum != e.want {
				t.Errorf("good task %s: result %d (%v), want %d", id, sum, err, e.want)
			}
			continue
		}
		switch {
		case o.Status != "failed" || o.Error == nil:
			t.Errorf("bad task %s: %s %+v, want failed (kind %s)", id, o.Status, o.Error, e.kind)
		case o.Error.Kind != e.kind:
			t.Errorf("bad task %s: kind %s (%s), want %s", id, o.Error.Kind, o.Error.Message, e.kind)
		case len(o.Error.Message) < 10 || !strings.ContainsAny(o.Error.Message, ":"):
			t.Errorf("bad task %s: unreadable error %q", id, o.Error.Message)
		case !shown[o.Error.Kind]:
			shown[o.Error.Kind] = true
			t.Logf("a %s error: %s", o.Error.Kind, o.Error.Message)
		}
	}

	cons, err := js.Consumer(ctx, link.Core(b).Names().TasksStream(), link.Core(b).Names().Consumer("default"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumRedelivered != 0 || ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("queue after the flood: %d redelivered, %d unacknowledged, %d pending; want 0, 0, 0",
			ci.NumRedelivered, ci.NumAckPending, ci.NumPending)
	}
	if !worker.alive() {
		t.Fatalf("the worker died:\n%s", worker.out.String())
	}
	worker.stop(30 * time.Second)
}
