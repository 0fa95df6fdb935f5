package codec_test

import (
	"testing"

	"github.com/strand-run/strand/internal/codec"
)

// FuzzDecodeFlow: any bytes decode to a valid workflow definition or an
// error, never a panic; a decoded definition has no cycle, re-encodes and
// decodes to the same steps, and its graph queries stay within it.
func FuzzDecodeFlow(f *testing.F) {
	for _, fl := range []*codec.Flow{
		{V: 2, ID: "f1", Queue: "default", Steps: []codec.FlowStep{{Name: "a", Func: "add"}, {Name: "b", Func: "add", After: []string{"a"}}}},
		{V: 2, ID: "f2", Queue: "q", OnFailure: "continue", Steps: []codec.FlowStep{
			{Name: "a", Func: "f"}, {Name: "b", Func: "f", After: []string{"a"}}, {Name: "c", Func: "f", After: []string{"a"}},
			{Name: "d", Func: "f", After: []string{"b", "c"}, Results: "kwargs"}}},
	} {
		for _, fm := range []codec.Format{codec.Msgpack, codec.JSON} {
			b, err := fm.Marshal(fl)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"v":2,"id":"x","queue":"q","steps":[{"name":"a","func":"f","after":["a"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := codec.DecodeFlow(b)
		if err != nil {
			return
		}
		again, err := codec.Sniff(b).Marshal(fl)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		fl2, err := codec.DecodeFlow(again)
		if err != nil || len(fl2.Steps) != len(fl.Steps) {
			t.Fatalf("round trip: %v", err)
		}
		edges := 0
		for _, s := range fl.Steps {
			edges += len(fl.Children(s.Name))
			if len(fl.Descendants(s.Name)) >= len(fl.Steps) {
				t.Fatalf("step %s descends from itself", s.Name)
			}
		}
		if len(fl.Roots()) == 0 || len(fl.Sinks()) == 0 {
			t.Fatal("a valid definition without roots or sinks")
		}
		after := 0
		for _, s := range fl.Steps {
			after += len(s.After)
		}
		if edges != after {
			t.Fatalf("%d edges from Children, %d in after", edges, after)
		}
	})
}
