package flow_test

import (
	"testing"
	"time"

	"github.com/strand-run/strand/flow"
)

func TestFromEnv(t *testing.T) {
	t.Setenv("STRAND_QUEUE", "flows")
	t.Setenv("STRAND_RESULT_TTL", "2h")
	t.Setenv("STRAND_JSON", "true")
	c, err := flow.FromEnv()
	if err != nil || c.Queue != "flows" || c.ResultTTL != 2*time.Hour || !c.JSON {
		t.Fatalf("%+v, %v", c, err)
	}
	t.Setenv("STRAND_TASK_TTL", "later")
	if _, err := flow.FromEnv(); err == nil {
		t.Fatal("a bad duration read")
	}
}
