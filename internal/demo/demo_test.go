package demo_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/internal/taskctx"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/registry"
)

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// call runs fn from reg the way a worker does: args encoded as msgpack.
func call(ctx context.Context, t *testing.T, reg *registry.Registry, fn string, args ...any) (any, error) {
	t.Helper()
	f, ok := (*handler.Table)(reg).Lookup(fn)
	if !ok {
		t.Fatalf("%s is not registered", fn)
	}
	raw := make([]codec.Raw, len(args))
	for i, a := range args {
		b, err := codec.Msgpack.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = b
	}
	return f.Call(ctx, codec.Msgpack, raw, nil)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	if got, want := (*handler.Table)(reg).Names(), []string{"add", "count", "echo", "fail", "scaled_add", "sleep", "sum", "work"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if err := demo.Register(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	ctx := context.Background()
	for _, tc := range []struct {
		fn      string
		args    []any
		want    any
		wantErr string
	}{
		{fn: "add", args: []any{2, 3}, want: 5},
		{fn: "add", args: []any{-7, 3}, want: -4},
		{fn: "add", args: []any{"x", 3}, wantErr: `add: arg 1: want int, got string "x"`},
		{fn: "add", args: []any{1}, wantErr: "add: want 2 args, got 1"},
		{fn: "echo", args: []any{"hi"}, want: "hi"},
		{fn: "echo", args: []any{int64(42)}, want: int8(42)}, // msgpack keeps the smallest int
		{fn: "echo", args: []any{[]any{"a", true}}, want: []any{"a", true}},
		{fn: "sleep", args: []any{1}, want: nil},
		{fn: "fail", args: []any{"boom"}, wantErr: "fail: boom"},
	} {
		got, err := call(ctx, t, reg, tc.fn, tc.args...)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s%v: error %v, want %q", tc.fn, tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s%v: %v", tc.fn, tc.args, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s%v = %#v, want %#v", tc.fn, tc.args, got, tc.want)
		}
	}
}

func TestBadArgsKind(t *testing.T) {
	t.Parallel()
	_, err := call(context.Background(), t, newRegistry(t), "add", "x", 3)
	if !errors.Is(err, strand.ErrBadArgs) {
		t.Fatalf("error %v does not match ErrBadArgs", err)
	}
}

func TestSleepHonoursCancel(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := call(ctx, t, reg, "sleep", 60_000)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep after cancel: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("sleep returned after %v", d)
	}
}

func TestSleepHonoursDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := call(ctx, t, newRegistry(t), "sleep", 60_000)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sleep past deadline: %v, want context.DeadlineExceeded", err)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	f, _ := (*handler.Table)(reg).Lookup("count")
	seq, err := call(context.Background(), t, reg, "count", 3)
	if err != nil || !f.Iterator() {
		t.Fatalf("count 3: %v (iterator %v)", err, f.Iterator())
	}
	var got []any
	if err := f.Each(seq, func(item any, err error) bool { got = append(got, item); return err == nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []any{0, 1, 2}) {
		t.Fatalf("count 3 yielded %v", got)
	}
}

func TestWorkReportsProgress(t *testing.T) {
	t.Parallel()
	var done []int64
	ctx := taskctx.WithProgress(context.Background(), func(d, total int64, note string) {
		if total != 3 || note == "" {
			t.Errorf("progress %d/%d %q", d, total, note)
		}
		done = append(done, d)
	})
	got, err := call(ctx, t, newRegistry(t), "work", 3, 1)
	if err != nil || got != "done 3 steps" || !reflect.DeepEqual(done, []int64{1, 2, 3}) {
		t.Fatalf("work 3 1 = %v, %v; progress %v", got, err, done)
	}
}

func TestScaledAdd(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	f, ok := (*handler.Table)(reg).Lookup("scaled_add")
	if !ok {
		t.Fatal("scaled_add is not registered")
	}
	kw, err := codec.Msgpack.Marshal(map[string]any{"scale": 10})
	if err != nil {
		t.Fatal(err)
	}
	two, _ := codec.Msgpack.Marshal(2)
	three, _ := codec.Msgpack.Marshal(3)
	out, err := f.Call(context.Background(), codec.Msgpack, []codec.Raw{two, three}, kw)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(out); got != "50" {
		t.Errorf("scaled_add(2, 3, scale=10) = %s, want 50", got)
	}
	if got := demo.ScaledAdd(2, 3, demo.ScaleKwargs{}); got != 5 {
		t.Errorf("scaled_add(2, 3) = %d, want 5 (scale 1)", got)
	}
}
