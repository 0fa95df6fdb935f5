package codec_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/registry"
)

// The examples of docs/protocol.md are generated here and checked there:
// run `go test ./internal/codec -run TestProtocolDoc -v -dump` to print the blocks.
var dump = flag.Bool("dump", false, "print the example blocks of docs/protocol.md")

const protocolDoc = "../../docs/protocol.md"

// docEnvelopes are the documented envelopes, in the order the doc shows them.
func docEnvelopes(t testing.TB, f codec.Format) []*codec.Envelope {
	return []*codec.Envelope{
		{
			V: 2, ID: "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c", Func: "add",
			Args: []codec.Raw{enc(t, f, 2), enc(t, f, 3)}, Queue: "default", Created: 1767225600000,
		},
		{
			V: 2, ID: "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8d", Func: "scaled_add",
			Args: []codec.Raw{enc(t, f, 2), enc(t, f, 3)}, Kwargs: enc(t, f, map[string]any{"scale": 10}),
			Queue: "default", Created: 1767225600000, TimeoutMS: 30000, MaxAttempts: 3,
			Meta: map[string]string{"user": "ann"},
		},
	}
}

// docOutcome is the documented outcome record.
func docOutcome(t testing.TB, f codec.Format) *codec.Outcome {
	return &codec.Outcome{
		Status: strand.StatusCompleted, Result: enc(t, f, 5), Attempt: 1,
		Started: 1767225600012, Finished: 1767225600013, Worker: "w1",
	}
}

// hexDump renders b 16 bytes a line: offset, bytes, ASCII.
func hexDump(b []byte) string {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(&sb, "%08x ", off)
		for i := range 16 {
			if i == 8 {
				sb.WriteByte(' ')
			}
			if i < len(line) {
				fmt.Fprintf(&sb, " %02x", line[i])
			} else {
				sb.WriteString("   ")
			}
		}
		sb.WriteString("  |")
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			sb.WriteByte(c)
		}
		sb.WriteString("|\n")
	}
	return sb.String()
}

// parseHexDump reads hexDump's format back, checking the offsets.
func parseHexDump(s string) ([]byte, error) {
	var out []byte
	for n, line := range strings.Split(strings.TrimSpace(s), "\n") {
		line, _, _ = strings.Cut(line, "|")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("line %d: %q", n+1, line)
		}
		off, err := strconv.ParseUint(fields[0], 16, 32)
		if err != nil || int(off) != len(out) {
			return nil, fmt.Errorf("line %d: offset %q, want %08x", n+1, fields[0], len(out))
		}
		for _, h := range fields[1:] {
			c, err := hex.DecodeString(h)
			if err != nil || len(c) != 1 {
				return nil, fmt.Errorf("line %d: byte %q", n+1, h)
			}
			out = append(out, c[0])
		}
	}
	return out, nil
}

type block struct{ info, body string }

// fencedBlocks returns the fenced code blocks of a markdown text.
func fencedBlocks(md string) []block {
	var blocks []block
	var cur *block
	for _, line := range strings.SplitAfter(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &block{info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body += line
		}
	}
	return blocks
}

func prettyJSON(t testing.TB, b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.String() + "\n"
}

// TestProtocolDoc keeps the examples of docs/protocol.md true: every `hex`
// block is a msgpack envelope, every `json envelope` block a JSON one, each
// equal to what codec encodes; `hex outcome` / `json outcome` blocks are
// outcome records.
func TestProtocolDoc(t *testing.T) {
	t.Parallel()
	want := map[string][]string{}
	for i, e := range docEnvelopes(t, codec.Msgpack) {
		b, err := codec.EncodeEnvelope(codec.Msgpack, e)
		if err != nil {
			t.Fatal(err)
		}
		want["hex"] = append(want["hex"], hexDump(b))
		if *dump {
			fmt.Printf("envelope %d, msgpack, %d bytes:\n```hex\n%s```\n", i+1, len(b), hexDump(b))
		}
	}
	for i, e := range docEnvelopes(t, codec.JSON) {
		b, err := codec.EncodeEnvelope(codec.JSON, e)
		if err != nil {
			t.Fatal(err)
		}
		want["json envelope"] = append(want["json envelope"], prettyJSON(t, b))
		if *dump {
			fmt.Printf("envelope %d, JSON, %d bytes compact:\n```json envelope\n%s```\n", i+1, len(b), prettyJSON(t, b))
		}
	}
	mo, jo := enc(t, codec.Msgpack, docOutcome(t, codec.Msgpack)), enc(t, codec.JSON, docOutcome(t, codec.JSON))
	want["hex outcome"] = []string{hexDump(mo)}
	want["json outcome"] = []string{prettyJSON(t, jo)}
	if *dump {
		fmt.Printf("outcome, msgpack, %d bytes:\n```hex outcome\n%s```\n", len(mo), hexDump(mo))
		fmt.Printf("outcome, JSON:\n```json outcome\n%s```\n", prettyJSON(t, jo))
	}

	md, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, b := range fencedBlocks(string(md)) {
		if _, ok := want[b.info]; ok {
			got[b.info] = append(got[b.info], b.body)
		}
	}
	for info, bodies := range want {
		if len(got[info]) != len(bodies) {
			t.Errorf("%s has %d ```%s blocks, want %d", protocolDoc, len(got[info]), info, len(bodies))
			continue
		}
		for i, body := range got[info] {
			check(t, info, i, body)
			if body != bodies[i] {
				t.Errorf("```%s block %d differs from what codec encodes; it should read:\n%s", info, i+1, bodies[i])
			}
		}
	}
}

// check decodes one documented block as a reader in another language would
// and compares it with the documented record.
func check(t *testing.T, info string, i int, body string) {
	t.Helper()
	switch info {
	case "hex", "json envelope":
		f, b := codec.JSON, []byte(body)
		if info == "hex" {
			f = codec.Msgpack
			var err error
			if b, err = parseHexDump(body); err != nil {
				t.Errorf("```hex block %d: %v", i+1, err)
				return
			}
		}
		e, err := codec.DecodeEnvelope(f, b)
		if err != nil {
			t.Errorf("```%s block %d does not decode: %v", info, i+1, err)
			return
		}
		w := docEnvelopes(t, f)[i]
		if !sameEnvelope(f, e, w) {
			t.Errorf("```%s block %d decodes to %+v, want %+v", info, i+1, e, w)
		}
		if args := plain(decodeArgs(t, f, e.Args)); !reflect.DeepEqual(args, []any{int64(2), int64(3)}) {
			t.Errorf("```%s block %d: args %v, want [2 3]", info, i+1, args)
		}
	case "hex outcome", "json outcome":
		b := []byte(body)
		if info == "hex outcome" {
			var err error
			if b, err = parseHexDump(body); err != nil {
				t.Errorf("```%s: %v", info, err)
				return
			}
		}
		o, f, err := codec.DecodeOutcome(b)
		if err != nil {
			t.Errorf("```%s does not decode: %v", info, err)
			return
		}
		if r := plain(toAny(t, f, o.Result)); o.Status != strand.StatusCompleted || r != int64(5) || o.Worker != "w1" {
			t.Errorf("```%s decodes to %+v (result %v), want completed with result 5", info, o, r)
		}
	}
}

func decodeArgs(t testing.TB, f codec.Format, args []codec.Raw) any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = toAny(t, f, a)
	}
	return out
}

func TestHexDumpRoundTrip(t *testing.T) {
	t.Parallel()
	for n := 1; n < 40; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 37)
		}
		got, err := parseHexDump(hexDump(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%d bytes: parsed %x, %v", n, got, err)
		}
	}
}

// scaledAdd is the handler the doc's kwargs example calls: kwargs bind to
// its trailing struct parameter, by msgpack (or json) tag.
func scaledAdd(a, b int, kw struct {
	Scale int `msgpack:"scale"`
}) int {
	return (a + b) * kw.Scale
}

// TestProtocolDocKwargs: the documented kwargs envelope runs on a handler
// with a trailing struct parameter, in both formats, and kwargs sent to a
// handler that takes none are bad_args.
func TestProtocolDocKwargs(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	if err := reg.Register("scaled_add", scaledAdd); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("add", func(a, b int) int { return a + b }); err != nil {
		t.Fatal(err)
	}
	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		e := docEnvelopes(t, f)[1]
		b, err := codec.EncodeEnvelope(f, e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := codec.DecodeEnvelope(f, b)
		if err != nil {
			t.Fatal(err)
		}
		fn, ok := (*handler.Table)(reg).Lookup(d.Func)
		if !ok {
			t.Fatalf("%s: %s not registered", f, d.Func)
		}
		got, err := fn.Call(context.Background(), f, d.Args, d.Kwargs)
		if err != nil || got != 50 {
			t.Errorf("%s: %s(2, 3, scale=10) = %v, %v; want 50", f, d.Func, got, err)
		}
		add, _ := (*handler.Table)(reg).Lookup("add")
		if _, err := add.Call(context.Background(), f, d.Args, d.Kwargs); strand.KindOf(err) != strand.ErrBadArgs {
			t.Errorf("%s: add with kwargs: %v (kind %s), want bad_args", f, err, strand.KindOf(err))
		}
	}
}

// TestProtocolVersions: a worker reads v 1 and v 2 (the fields are the
// same) and fails a newer v as malformed.
func TestProtocolVersions(t *testing.T) {
	t.Parallel()
	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		for v, ok := range map[int]bool{1: true, 2: true, 3: false} {
			e := docEnvelopes(t, f)[0]
			e.V = v
			b, err := f.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			_, err = codec.DecodeEnvelope(f, b)
			if ok && err != nil {
				t.Errorf("%s: v %d: %v", f, v, err)
			}
			if !ok && !errors.Is(err, strand.ErrMalformed) {
				t.Errorf("%s: v %d: %v, want malformed", f, v, err)
			}
		}
	}
	if codec.Version != 2 {
		t.Errorf("codec.Version %d: docs/protocol.md specifies version 2", codec.Version)
	}
}
