package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/registry"
)

type opts struct {
	N    int    `msgpack:"n"`
	Name string `json:"name"`
}

func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fn   any
		want string
	}{
		{"f", 42, "want a function"},
		{"f", (func())(nil), "want a function"},
		{"f", func(a int, ctx context.Context) {}, "context.Context must be the first parameter"},
		{"f", func(c chan int) {}, "chan values cannot travel"},
		{"f", func(s fmt.Stringer) {}, "interface fmt.Stringer cannot be decoded"},
		{"f", func() (int, int) { return 0, 0 }, "second result must be error"},
		{"f", func() (int, error, bool) { return 0, nil, false }, "at most (value, error)"},
		{"f", func() func() { return nil }, "func values cannot travel"},
		{"", func() {}, "1-128 characters"},
		{"a b", func() {}, "no spaces"},
	} {
		err := registry.New().Register(tc.name, tc.fn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register(%q, %T): %v, want %q", tc.name, tc.fn, err, tc.want)
		}
	}
	reg := registry.New()
	reg.MustRegister("f", func() {})
	if err := reg.Register("f", func() {}); err == nil {
		t.Error("a name registered twice")
	}
}

func call(t *testing.T, reg *registry.Registry, name string, f codec.Format, kwargs string, args ...string) (any, error) {
	t.Helper()
	fn, ok := (*handler.Table)(reg).Lookup(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	raws := make([]codec.Raw, len(args))
	for i, a := range args {
		raws[i] = codec.Raw(a)
		if f == codec.Msgpack {
			m, err := codec.JSONToMsgpack(codec.Raw(a))
			if err != nil {
				t.Fatal(err)
			}
			raws[i] = m
		}
	}
	var kw codec.Raw
	if kwargs != "" {
		kw = codec.Raw(kwargs)
		if f == codec.Msgpack {
			kw, _ = codec.JSONToMsgpack(kw)
		}
	}
	return fn.Call(context.Background(), f, raws, kw)
}

func TestCall(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	reg.MustRegister("small", func(a int8, b uint16) int { return int(a) + int(b) })
	reg.MustRegister("sum", func(xs ...int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})
	reg.MustRegister("kw", func(p *opts) string { return fmt.Sprintf("%d %s", p.N, p.Name) })
	reg.MustRegister("ptr", func(p *int) bool { return p == nil })
	reg.MustRegister("slice", func(xs []string, m map[string]int) int { return len(xs) + len(m) })
	reg.MustRegister("none", func() {})
	reg.MustRegister("err", func() error { return strand.ErrTimeout })
	reg.MustRegister("panics", func(m map[string]int) int { return m["a"] / m["b"] })

	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		for _, tc := range []struct {
			name, fn, kwargs string
			args             []string
			want             string
			wantErr          string
			is               error
		}{
			{"ints in range", "small", "", []string{"-5", "70"}, "65", "", nil},
			{"int8 overflow", "small", "", []string{"300", "1"}, "", "small: arg 1: want int8, got int 300 (out of range)", strand.ErrBadArgs},
			{"negative uint", "small", "", []string{"1", "-1"}, "", "small: arg 2: want uint16, got int -1 (out of range)", strand.ErrBadArgs},
			{"nil for int", "small", "", []string{"null", "1"}, "", "small: arg 1: want int8, got nil", strand.ErrBadArgs},
			{"variadic none", "sum", "", nil, "0", "", nil},
			{"variadic many", "sum", "", []string{"1", "2", "3"}, "6", "", nil},
			{"variadic bad", "sum", "", []string{"1", `"2"`}, "", `sum: arg 2: want int, got string "2"`, strand.ErrBadArgs},
			{"kwargs pointer", "kw", `{"n": 3, "name": "x"}`, nil, "3 x", "", nil},
			{"kwargs absent", "kw", "", nil, "0 ", "", nil},
			{"kwargs unknown", "kw", `{"m": 3}`, nil, "", `kw: kwargs: unknown field "m"`, strand.ErrBadArgs},
			{"kwargs wrong type", "kw", `{"n": "3"}`, nil, "", "kw: kwargs:", strand.ErrBadArgs},
			{"nil pointer", "ptr", "", []string{"null"}, "true", "", nil},
			{"collections", "slice", "", []string{`["a","b"]`, `{"k":1}`}, "3", "", nil},
			{"collection type", "slice", "", []string{`["a", 1]`, `{}`}, "", "slice: arg 1: want []string, got array of 2", strand.ErrBadArgs},
			{"no results", "none", "", nil, "<nil>", "", nil},
			{"too many args", "none", "", []string{"1"}, "", "none: want 0 args, got 1", strand.ErrBadArgs},
			{"empty kwargs ok", "none", `{}`, nil, "<nil>", "", nil},
			{"sentinel error", "err", "", nil, "", "err: strand: task timed out", strand.ErrTimeout},
			{"panic", "panics", "", []string{`{"a":1,"b":0}`}, "", "panics: panic: runtime error: integer divide by zero", strand.ErrPanic},
		} {
			t.Run(f.String()+"/"+tc.name, func(t *testing.T) {
				got, err := call(t, reg, tc.fn, f, tc.kwargs, tc.args...)
				if tc.wantErr != "" {
					if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", err, tc.wantErr)
					}
					if !errors.Is(err, tc.is) {
						t.Fatalf("%v is not %v", err, tc.is)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != tc.want {
					t.Fatalf("got %v, want %s", got, tc.want)
				}
			})
		}
	}
	var pe *handler.PanicError
	_, err := call(t, reg, "panics", codec.JSON, "", `{"a":1,"b":0}`)
	if !errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "registry_test.go") {
		t.Fatalf("panic error without the handler's stack: %v", err)
	}
	if names := fmt.Sprint((*handler.Table)(reg).Names()); names != "[err kw none panics ptr slice small sum]" {
		t.Fatalf("names %s", names)
	}
}
