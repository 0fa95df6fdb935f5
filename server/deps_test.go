package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// producers are the packages a program that only connects (a producer, a
// worker, a gateway) is built from: none may link nats-server.
var producers = []string{"", "broker", "codec", "dispatch", "flow", "gateway", "middleware", "reader", "registry", "runner", "tracing", "writer"}

// TestOnlyServerLinksNATSServer: nats-server enters the module only through
// package server (scratch, strandtest, brokertest, cmd/strand and the
// examples that start a server import it), and go list -deps of the
// producer packages holds no nats-server package.
func TestOnlyServerLinksNATSServer(t *testing.T) {
	t.Parallel()
	const module = "github.com/strand-run/strand"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	linksNATS := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		viaServer := pkg == "server"
		links := false
		for _, d := range fields[1:] {
			links = links || strings.HasPrefix(d, "github.com/nats-io/nats-server/")
			viaServer = viaServer || d == module+"/server"
		}
		linksNATS[pkg] = links
		if links && !viaServer {
			t.Errorf("%s links nats-server without package server: only package server may import it", fields[0])
		}
	}
	if !linksNATS["server"] {
		t.Fatalf("package server does not link nats-server: the test sees nothing")
	}
	for _, pkg := range producers {
		links, ok := linksNATS[pkg]
		switch {
		case !ok:
			t.Errorf("go list did not list %s/%s", module, pkg)
		case links:
			t.Errorf("%s/%s links nats-server: a producer or worker binary would carry the server", module, pkg)
		}
	}
}
