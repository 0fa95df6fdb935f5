package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/server"
)

// A schedules stream made without message schedules (by hand, or by a
// server that ignored the flag) is migrated when a strand process connects.
func TestSchedulesStreamMigrated(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	js := rawJetStream(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := broker.NewNames("")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: n.SchedulesStream(), Subjects: []string{n.ScheduleSubjects()},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1,
	}); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Connect(t, srv, pub.Config{})
	if err := link.Core(b).SchedulesReady(); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, n.SchedulesStream())
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; !c.AllowMsgSchedules || !c.AllowMsgTTL || !c.AllowRollup {
		t.Fatalf("not migrated: %+v", c)
	}
}

// One that cannot be migrated is refused with what to do, for delayed
// tasks and schedules only: the rest works.
func TestSchedulesStreamRefused(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	js := rawJetStream(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := broker.NewNames("")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: n.SchedulesStream(), Subjects: []string{n.ScheduleSubjects()}, Discard: jetstream.DiscardNew,
	}); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Connect(t, srv, pub.Config{})
	err := link.Core(b).SchedulesReady()
	if !errors.Is(err, broker.ErrNoSchedules) || !strings.Contains(err.Error(), "nats stream rm "+n.SchedulesStream()) {
		t.Fatalf("SchedulesReady: %v", err)
	}
	errs := link.Core(b).Submit(ctx, &broker.Task{Queue: "q", ID: "later", Func: "f", Data: []byte{0x80}, TTL: time.Hour, At: time.Now().Add(time.Hour)})
	if !errors.Is(errs[0], broker.ErrNoSchedules) {
		t.Fatalf("delayed submit: %v", errs[0])
	}
	if errs := link.Core(b).Submit(ctx, &broker.Task{Queue: "q", ID: "now", Func: "f", Data: []byte{0x80}, TTL: time.Hour}); errs[0] != nil {
		t.Fatalf("submit: %v", errs[0])
	}
	if l, err := link.Core(b).Look(ctx, "q", "nothing"); err != nil || l.Task != nil {
		t.Fatalf("look: %+v %v", l, err)
	}
}

func TestSchedSubjects(t *testing.T) {
	t.Parallel()
	n := broker.NewNames("")
	for _, tc := range []struct{ kind, queue, name, subject string }{
		{broker.SchedDelayed, "q", "id1", "strand.sched.at.q.id1"},
		{broker.SchedDue, "q", "id1", "strand.sched.fire.q.due.id1"},
		{broker.SchedCron, "q", "tick", "strand.sched.cron.q.tick"},
		{broker.SchedTick, "q", "tick", "strand.sched.fire.q.tick.tick"},
		{broker.SchedLast, "q", "tick", "strand.sched.last.q.tick"},
	} {
		s := n.SchedSubject(tc.kind, tc.queue, tc.name)
		if s != tc.subject {
			t.Errorf("%s: %s, want %s", tc.kind, s, tc.subject)
		}
		k, q, name, ok := n.ParseSchedSubject(s)
		if !ok || k != tc.kind || q != tc.queue || name != tc.name {
			t.Errorf("parse %s: %s %s %s %v", s, k, q, name, ok)
		}
	}
	if got := broker.FiringID("tick", time.Unix(1767225600, 0)); got != "tick-1767225600" {
		t.Errorf("FiringID %s", got)
	}
	for _, bad := range []string{"", "a.b", "a*", "a b", strings.Repeat("x", 101)} {
		if broker.ValidScheduleName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func rawJetStream(t *testing.T, srv *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
