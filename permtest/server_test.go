package permtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strand-run/strand/broker"
)

// serverBin is the nats-server binary TestMain builds from the module cache.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "permtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "nats-server")
	build := exec.Command("go", "build", "-o", serverBin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build nats-server: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// users is the accounts block of the server's config: one account with
// JetStream, its users, each with a password equal to its name.
const users = `
accounts {
  STRAND {
    jetstream: enabled
    users: [
      { user: admin, password: admin, permissions: $ADMIN }
      { user: producer-a, password: producer-a, permissions: $PRODUCER_A }
      { user: worker-a, password: worker-a, permissions: $WORKER_A }
    ]
  }
}
`

// startServer starts a nats-server process with the roles' permission
// sets (perms.conf) and returns its URL; it is stopped, by PID, at cleanup.
func startServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	perms, err := os.ReadFile("perms.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\nserver_name: permtest\njetstream { store_dir: %q }\n%s\n%s",
		port, filepath.Join(dir, "js"), perms, users)
	confPath := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(serverBin, "-c", confPath)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
		_ = log.Close()
		if t.Failed() || testing.Verbose() {
			if out, err := os.ReadFile(log.Name()); err == nil {
				t.Logf("server log (violations):\n%s", violations(string(out)))
			}
		}
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		nc, err := nats.Connect(url, nats.UserInfo("admin", "admin"))
		if err == nil {
			nc.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server (pid %d) not up: %v", pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// violations keeps the server log's permission violations.
func violations(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if strings.Contains(line, "Violation") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// inbox is the inbox prefix user's permissions allow.
func inbox(user string) string { return "_INBOX_" + strings.ReplaceAll(user, "-", "_") }

// connect connects as user, with the per-user inbox prefix its permissions
// allow; extra options go to broker.Connect.
func connect(t *testing.T, url, user string, extra ...nats.Option) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, broker.Config{URL: url, User: user, Password: user, Name: user, InboxPrefix: inbox(user)}, extra...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
