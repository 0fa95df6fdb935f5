package reader

import (
	"strings"
	"testing"

	"github.com/strand-run/strand/internal/codec"
)

func TestLimitKeyOf(t *testing.T) {
	t.Parallel()
	kw, err := codec.Msgpack.Marshal(map[string]any{"user": "ann", "n": 7, "odd": "a b.c"})
	if err != nil {
		t.Fatal(err)
	}
	env := &codec.Envelope{Func: "render", Key: "k1", Meta: map[string]string{"tenant": "acme"}, Kwargs: kw}
	for _, c := range []struct{ src, want string }{
		{"", "render"}, {"key", "k1"}, {"meta:tenant", "acme"}, {"meta:none", "_"},
		{"kwarg:user", "ann"}, {"kwarg:n", "7"}, {"kwarg:none", "_"},
	} {
		if got := (Limit{Key: c.src, Max: 1}).keyOf(env, codec.Msgpack); got != c.want {
			t.Errorf("key from %q: %q, want %q", c.src, got, c.want)
		}
	}
	// A value that is not one subject token is hashed into one.
	got := (Limit{Key: "kwarg:odd", Max: 1}).keyOf(env, codec.Msgpack)
	if !strings.HasPrefix(got, "h-") || codec.ValidKey(got) != nil {
		t.Errorf("hashed key %q", got)
	}
}
