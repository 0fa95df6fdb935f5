package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"
)

// A server whose account allows no memory storage gets the workers bucket
// on disk, so that workers can still announce themselves.
func TestWorkersBucketWithoutMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nomem.conf")
	body := "listen: 127.0.0.1:-1\njetstream { store_dir: \"" + filepath.Join(dir, "js") + "\" }\n" +
		"accounts { A { jetstream { max_mem: 0, max_file: 1G }, users [ { user: a, password: a } ] } }\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	b, err := pub.Connect(context.Background(), pub.Config{URL: "nats://a:a@" + s.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, err := link.Core(b).Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage; got != jetstream.FileStorage {
		t.Fatalf("storage %v, want file", got)
	}
}
