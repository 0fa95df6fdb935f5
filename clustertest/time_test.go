package clustertest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestScheduleLeaderKill keeps delayed tasks and an @every 1s schedule on
// a 3-node R3 cluster and shuts down the schedules stream's leader during
// their life: every delayed task runs once, no firing runs twice, and the
// only firings missing are those of the seconds the stream had no leader
// (the new leader fires once for them, as after a restart).
func TestScheduleLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	servers := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := connect(t, servers)
	st, err := link.Core(admin).JetStream().Stream(ctx, link.Core(admin).Names().SchedulesStream())
	if err != nil || st.CachedInfo().Config.Replicas != 3 || !st.CachedInfo().Config.AllowMsgSchedules {
		t.Fatalf("stream %s: %v %+v", link.Core(admin).Names().SchedulesStream(), err, st)
	}
	lg := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()

	var mu sync.Mutex
	runs := map[string]int{}
	reg := registry.New()
	reg.MustRegister("note", func(ctx context.Context) {
		tk, _ := strand.TaskFrom(ctx)
		mu.Lock()
		runs[tk.ID]++
		mu.Unlock()
	})
	r, err := reader.New(connect(t, servers), reg, reader.Config{Logger: &lg})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	w, err := writer.New(connect(t, servers), writer.Config{Logger: &lg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	if err := w.PutSchedule(ctx, "pulse", "@every 1s", "note", nil); err != nil {
		t.Fatal(err)
	}
	var delayed []strand.Handle
	for i := range 10 {
		h, err := w.Submit(ctx, "note", nil, strand.After(time.Duration(2+i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		delayed = append(delayed, h)
	}
	time.Sleep(4 * time.Second)
	killed := time.Now()
	victim := brokertest.StopStreamLeader(t, link.Core(admin).JetStream(), link.Core(admin).Names().SchedulesStream(), servers)
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := brokertest.StreamLeader(lctx, link.Core(admin).JetStream(), link.Core(admin).Names().SchedulesStream(), servers)
	lcancel()
	if err != nil {
		t.Fatal(err)
	}
	elected := time.Now()
	t.Logf("stopped %s, the leader of %s; %s leads %v later", victim.NATS().Name(), link.Core(admin).Names().SchedulesStream(), leader.NATS().Name(), elected.Sub(killed).Round(time.Millisecond))

	for _, h := range delayed {
		if err := h.Result(ctx, nil); err != nil {
			t.Fatalf("delayed %s: %v", h.ID(), err)
		}
	}
	time.Sleep(5 * time.Second)
	if err := w.DeleteSchedule(ctx, "pulse"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	mu.Lock()
	defer mu.Unlock()
	fired := map[int64]bool{}
	var first, last int64
	for id, n := range runs {
		if n != 1 {
			t.Errorf("%s ran %d times", id, n)
		}
		if sec, ok := strings.CutPrefix(id, "pulse-"); ok {
			u, _ := strconv.ParseInt(sec, 10, 64)
			fired[u] = true
			if first == 0 || u < first {
				first = u
			}
			last = max(last, u)
		}
	}
	for _, h := range delayed {
		if runs[h.ID()] != 1 {
			t.Errorf("delayed %s ran %d times", h.ID(), runs[h.ID()])
		}
	}
	var missing []int64
	for u := first; u <= last; u++ {
		if !fired[u] {
			missing = append(missing, u)
			if u < killed.Unix()-1 || u > elected.Unix()+2 {
				t.Errorf("firing of %v missing outside the election (%v to %v)", time.Unix(u, 0).UTC(), killed.UTC(), elected.UTC())
			}
		}
	}
	if last < elected.Unix()+3 {
		t.Errorf("the schedule stopped firing after the failover: last firing %v", time.Unix(last, 0).UTC())
	}
	t.Logf("%d firings from %v to %v, %d missing (%v)", len(fired), time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), len(missing), missing)
}
