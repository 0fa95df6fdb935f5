package registry_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/registry"
)

// collect calls fn with args and ranges over its sequence.
func collect(t *testing.T, f *handler.Func, args ...any) (items []any, errs []error, err error) {
	t.Helper()
	raw := make([]codec.Raw, len(args))
	for i, a := range args {
		b, err := codec.Msgpack.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = b
	}
	seq, err := f.Call(context.Background(), codec.Msgpack, raw, nil)
	if err != nil {
		return nil, nil, err
	}
	err = f.Each(seq, func(item any, e error) bool {
		if e != nil {
			errs = append(errs, e)
			return false
		}
		items = append(items, item)
		return true
	})
	return items, errs, err
}

func TestIterator(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	reg.MustRegister("seq", func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := range n {
				if !yield(i) {
					return
				}
			}
		}
	})
	reg.MustRegister("seq2", func(ctx context.Context, n int) (iter.Seq2[string, error], error) {
		if n < 0 {
			return nil, errors.New("negative")
		}
		return func(yield func(string, error) bool) {
			for i := range n {
				if !yield(strings.Repeat("x", i+1), nil) {
					return
				}
			}
			yield("", errors.New("ran dry"))
		}, nil
	})
	reg.MustRegister("boom", func() iter.Seq[int] {
		return func(yield func(int) bool) {
			yield(1)
			panic("kaboom")
		}
	})
	reg.MustRegister("plain", func(n int) int { return n })

	seq, _ := (*handler.Table)(reg).Lookup("seq")
	items, errs, err := collect(t, seq, 3)
	if !seq.Iterator() || err != nil || len(errs) != 0 || len(items) != 3 || items[2] != 2 {
		t.Fatalf("seq: iterator %v, items %v, errs %v, err %v", seq.Iterator(), items, errs, err)
	}
	seq2, _ := (*handler.Table)(reg).Lookup("seq2")
	items, errs, err = collect(t, seq2, 2)
	if !seq2.Iterator() || err != nil || len(items) != 2 || items[1] != "xx" ||
		len(errs) != 1 || errs[0].Error() != "seq2: ran dry" {
		t.Fatalf("seq2: items %v, errs %v, err %v", items, errs, err)
	}
	if _, _, err = collect(t, seq2, -1); err == nil || err.Error() != "seq2: negative" {
		t.Fatalf("seq2 -1: %v", err)
	}
	boom, _ := (*handler.Table)(reg).Lookup("boom")
	items, _, err = collect(t, boom)
	var pe *handler.PanicError
	if len(items) != 1 || !errors.As(err, &pe) || !errors.Is(err, strand.ErrPanic) || pe.Value != "kaboom" {
		t.Fatalf("boom: items %v, err %v", items, err)
	}
	plain, _ := (*handler.Table)(reg).Lookup("plain")
	if plain.Iterator() {
		t.Fatal("plain reports an iterator")
	}
	if err := plain.Each(nil, func(any, error) bool { return true }); err == nil {
		t.Fatal("Each of a plain handler succeeded")
	}
}

func TestIteratorRefusesItems(t *testing.T) {
	t.Parallel()
	err := registry.New().Register("f", func() iter.Seq[chan int] { return nil })
	if err == nil || !strings.Contains(err.Error(), "items chan int") {
		t.Fatalf("Register: %v", err)
	}
}
