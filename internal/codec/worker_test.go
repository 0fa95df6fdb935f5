package codec_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/strand-run/strand/internal/codec"
)

func TestWorkerRecord(t *testing.T) {
	t.Parallel()
	w := &codec.Worker{
		ID: "host_a-12-ab12", Host: "host.a", PID: 12, Queues: []string{"default", "q2"},
		Functions: []string{"add", "echo"}, Concurrency: 4, InFlight: 2,
		Started: 1767225600000, Beat: 1767225605000, Version: "dev",
	}
	b, err := codec.EncodeWorker(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeWorker(b)
	if err != nil || !reflect.DeepEqual(got, w) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	js := `{"id": "w1", "queues": ["default"], "functions": ["add"], "concurrency": 2, "in_flight": 1,
		"started": 1, "beat": 2, "future_key": true}`
	got, err = codec.DecodeWorker([]byte(js))
	if err != nil || got.ID != "w1" || got.InFlight != 1 || got.Concurrency != 2 || got.Queues[0] != "default" {
		t.Fatalf("JSON record: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "{}", `{"id": 3}`, "\xc1", `{"queues": ["x"]}`} {
		if w, err := codec.DecodeWorker([]byte(bad)); !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("DecodeWorker(%q) = %+v, %v; want ErrMalformed", bad, w, err)
		}
	}
	if _, err := codec.EncodeWorker(&codec.Worker{}); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("EncodeWorker without id: %v", err)
	}
}

func FuzzDecodeWorker(f *testing.F) {
	b, _ := codec.EncodeWorker(&codec.Worker{ID: "w", Queues: []string{"q"}, Functions: []string{"f"}, InFlight: 1})
	f.Add(b)
	f.Add([]byte(`{"id":"w","in_flight":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := codec.DecodeWorker(b)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := codec.EncodeWorker(w)
		if err != nil {
			t.Fatal(err)
		}
		if w2, err := codec.DecodeWorker(again); err != nil || !reflect.DeepEqual(w, w2) {
			t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", w2, err, w)
		}
	})
}
