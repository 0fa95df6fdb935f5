package strand_test

import (
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/opt"
)

// TestOptions: each option records what it says, and a bad one an error
// that wraps ErrBadOption and names the option.
func TestOptions(t *testing.T) {
	apply := func(opts ...strand.Option) *opt.Call {
		var c opt.Call
		for _, o := range opts {
			o(&c)
		}
		return &c
	}
	at := time.Now().Add(time.Hour)
	c := apply(strand.Queue("mail"), strand.ID("x-1"), strand.Timeout(time.Second), strand.MaxAttempts(3),
		strand.ResultTTL(time.Minute), strand.Meta(map[string]string{"a": "1"}), strand.Meta(map[string]string{"b": "2"}),
		strand.Encoding("json"), strand.At(at), strand.Priority("low"), strand.Unique("k", 0), strand.Fair())
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Queue != "mail" || c.ID != "x-1" || c.Timeout != time.Second || c.MaxAttempts != 3 || c.ResultTTL != time.Minute ||
		len(c.Meta) != 2 || c.Encoding != "json" || !c.At.Equal(at) || !c.Delayed || c.Priority != "low" ||
		c.Key != "k" || c.Unique != "finished" || !c.Fair || !c.Has("Fair") || c.Has("Kwargs") {
		t.Fatalf("%+v", c)
	}
	if c := apply(strand.Debounce("k", 2*time.Second), strand.Unique("k", time.Minute)); c.Err() != nil || c.Debounce != 2*time.Second || c.UniqueFor != time.Minute {
		t.Fatalf("debounce and unique: %+v, %v", c, c.Err())
	}
	for name, o := range map[string]strand.Option{
		"Queue":       strand.Queue("a b"),
		"ID":          strand.ID(""),
		"Timeout":     strand.Timeout(-time.Second),
		"MaxAttempts": strand.MaxAttempts(-1),
		"ResultTTL":   strand.ResultTTL(time.Millisecond),
		"Encoding":    strand.Encoding(""),
		"At":          strand.At(time.Time{}),
		"Priority":    strand.Priority("urgent"),
		"Key":         strand.Key("a.b"),
		"Unique":      strand.Unique("k", time.Millisecond),
		"Debounce":    strand.Debounce("k", 0),
	} {
		err := apply(o).Err()
		if !errors.Is(err, strand.ErrBadOption) || err.Error()[:len(name)] != name {
			t.Errorf("%s: %v, want ErrBadOption naming it", name, err)
		}
	}
	if err := apply(strand.Key("a"), strand.Key("b")).Err(); !errors.Is(err, strand.ErrBadOption) {
		t.Errorf("two keys: %v", err)
	}
}
