package writer_test

import (
	"testing"
	"time"

	"github.com/strand-run/strand/writer"
)

func TestFromEnv(t *testing.T) {
	t.Setenv("STRAND_QUEUE", "q1")
	t.Setenv("STRAND_RESULT_TTL", "2h")
	t.Setenv("STRAND_JSON", "true")
	c, err := writer.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue != "q1" || c.ResultTTL != 2*time.Hour || !c.JSON {
		t.Errorf("FromEnv = %+v", c)
	}
	t.Setenv("STRAND_RESULT_TTL", "soon")
	if _, err := writer.FromEnv(); err == nil {
		t.Error("FromEnv took STRAND_RESULT_TTL=soon")
	}
}
