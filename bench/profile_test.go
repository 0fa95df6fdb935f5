package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProfile: -profile writes every profile of the measured burst of the
// cycle it names, none empty, and logs the burst's allocations per task.
func TestProfile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := filepath.Join(t.TempDir(), "p")
	var log bytes.Buffer
	cfg := Config{N: 200, Producers: 2, Pool: 2, One: 10, Depth: -1, Delayed: -1,
		Only: []string{"strand"}, Profile: prefix, Log: &log}
	if _, err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cpu", "block", "mutex", "allocs0", "allocs", "trace"} {
		fi, err := os.Stat(prefix + ".strand." + kind)
		if err != nil {
			t.Errorf("profile %s: %v", kind, err)
		} else if fi.Size() == 0 {
			t.Errorf("profile %s is empty", kind)
		}
	}
	if !strings.Contains(log.String(), "allocations") {
		t.Errorf("no allocations per task in the log:\n%s", log.String())
	}
}
