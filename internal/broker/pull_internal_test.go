package broker

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestPullBody: the hand-built pull request body is what encoding/json
// made of the request before, byte for byte (the wire did not change).
func TestPullBody(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 4, 64, 1000} {
		for _, expires := range []time.Duration{fetchWaitForTest / 8, fetchWaitForTest, 30 * time.Second} {
			for _, priority := range []int{0, 1, 9} {
				want, err := json.Marshal(struct {
					Batch    int           `json:"batch"`
					Expires  time.Duration `json:"expires"`
					Group    string        `json:"group"`
					Priority int           `json:"priority,omitempty"`
				}{n, expires, pullGroup, priority})
				if err != nil {
					t.Fatal(err)
				}
				if got := pullBody(n, expires, priority); !bytes.Equal(got, want) {
					t.Errorf("pullBody(%d, %v, %d) = %s, want %s", n, expires, priority, got, want)
				}
			}
		}
	}
}

// fetchWaitForTest is the reader's pull wait (reader.fetchWait).
const fetchWaitForTest = 2 * time.Second

func BenchmarkPullBody(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = pullBody(1, fetchWaitForTest, 0)
	}
}
