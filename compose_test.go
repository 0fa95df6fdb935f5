package strand_test

// Docker is not available where the tests run, so this test reads the
// deployment files instead of running them: docker-compose.yml must start a
// 3-node JetStream cluster of a NATS new enough for strand, the HTTP gateway
// and two workers built from this repository's Dockerfile that connect to
// every node with R3 replicas, and the Dockerfile must build
// the strand command. The YAML is read with a small reader of the subset
// the file uses (block maps and lists, flow lists, quoted scalars), to keep
// a YAML library out of the module's dependencies.

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCompose(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseYAML(string(src))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	services, _ := path(doc, "services").(map[string]any)
	nodes := []string{"nats1", "nats2", "nats3"}
	for _, name := range append(slices.Clone(nodes), "strand", "worker1", "worker2") {
		if _, ok := services[name].(map[string]any); !ok {
			t.Fatalf("want services nats1, nats2, nats3, strand, worker1 and worker2, got %v", keys(services))
		}
	}

	// nats1..3: the official image, 2.11 or newer (per-message TTLs), JetStream
	// on, its store directory on a volume of its own, one cluster whose routes
	// name every node.
	volumes := map[string]string{}
	for _, name := range nodes {
		nats := services[name].(map[string]any)
		image, _ := nats["image"].(string)
		m := regexp.MustCompile(`^nats:(\d+)\.(\d+)(\.\d+)?(-[a-z0-9.]+)?$`).FindStringSubmatch(image)
		if m == nil {
			t.Errorf("%s image = %q, want nats:<major>.<minor>[.<patch>][-variant]", name, image)
		} else if major, minor := atoi(m[1]), atoi(m[2]); major < 2 || major == 2 && minor < 11 {
			t.Errorf("%s image = %q, want 2.11 or newer (strand needs per-message TTLs)", name, image)
		}
		args := words(nats["command"])
		flag := func(names ...string) string {
			for _, n := range names {
				if i := slices.Index(args, n); i >= 0 && i+1 < len(args) {
					return args[i+1]
				}
			}
			return ""
		}
		if !slices.Contains(args, "-js") && !slices.Contains(args, "--jetstream") {
			t.Errorf("%s command = %q, want JetStream enabled (-js)", name, args)
		}
		if dir := flag("-sd", "--store_dir"); dir == "" {
			t.Errorf("%s command = %q, want -sd <dir> for JetStream's files", name, args)
		} else {
			i := slices.IndexFunc(words(nats["volumes"]), func(v string) bool {
				return strings.HasSuffix(v, ":"+dir) || strings.Contains(v, ":"+dir+":")
			})
			if i < 0 {
				t.Errorf("%s stores in %s but no volume is mounted there (volumes %q)", name, dir, words(nats["volumes"]))
			} else {
				vol, _, _ := strings.Cut(words(nats["volumes"])[i], ":")
				if other, ok := volumes[vol]; ok {
					t.Errorf("%s and %s share the volume %s; each node needs its own", other, name, vol)
				}
				volumes[vol] = name
			}
		}
		if c := flag("--cluster_name"); c != "strand" {
			t.Errorf("%s --cluster_name = %q, want one cluster name on every node (strand)", name, c)
		}
		if flag("--cluster") == "" {
			t.Errorf("%s command = %q, want --cluster <listen URL> for routes", name, args)
		}
		if sn := flag("--server_name", "-n"); sn != name {
			t.Errorf("%s --server_name = %q, want its service name (JetStream clusters need unique names)", name, sn)
		}
		var routed []string
		for _, r := range strings.Split(flag("--routes"), ",") {
			if u, err := url.Parse(r); err == nil && u.Scheme == "nats" {
				routed = append(routed, u.Hostname())
			}
		}
		for _, other := range nodes {
			if other != name && !slices.Contains(routed, other) {
				t.Errorf("%s --routes = %q, want a route to %s", name, flag("--routes"), other)
			}
		}
	}

	// strand (the gateway) and two workers: built from this repository's
	// Dockerfile, connected to every node with R3 streams and buckets.
	for _, name := range []string{"strand", "worker1", "worker2"} {
		svc := services[name].(map[string]any)
		ctxDir, dockerfile := ".", "Dockerfile"
		switch b := svc["build"].(type) {
		case string:
			ctxDir = b
		case map[string]any:
			if c, ok := b["context"].(string); ok {
				ctxDir = c
			}
			if d, ok := b["dockerfile"].(string); ok {
				dockerfile = d
			}
		default:
			t.Errorf("%s has no build section (got %v)", name, svc["build"])
		}
		if ctxDir != "." && ctxDir != "./" {
			t.Errorf("%s build context = %q, want the repository root", name, ctxDir)
		}
		if strings.TrimPrefix(dockerfile, "./") != "Dockerfile" {
			t.Errorf("%s dockerfile = %q, want the repository's Dockerfile", name, dockerfile)
		}
		vars := env(svc["environment"])
		var hosts []string
		for _, s := range strings.Split(vars["STRAND_SERVER"], ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || u.Scheme != "nats" || (u.Port() != "" && u.Port() != "4222") {
				t.Errorf("%s STRAND_SERVER = %q: %q is not nats://<node>:4222", name, vars["STRAND_SERVER"], s)
				continue
			}
			hosts = append(hosts, u.Hostname())
		}
		for _, n := range nodes {
			if !slices.Contains(hosts, n) {
				t.Errorf("%s STRAND_SERVER = %q, want every node (missing %s) so it fails over", name, vars["STRAND_SERVER"], n)
			}
			if !slices.Contains(depends(svc["depends_on"]), n) {
				t.Errorf("%s depends_on = %v, want %s", name, svc["depends_on"], n)
			}
		}
		if vars["STRAND_REPLICAS"] != "3" {
			t.Errorf("%s STRAND_REPLICAS = %q, want 3 (R3 streams and buckets on the 3 nodes)", name, vars["STRAND_REPLICAS"])
		}
		cmd := words(svc["command"])
		switch name {
		case "strand":
			i := slices.Index(cmd, "--http")
			if len(cmd) == 0 || cmd[0] != "gateway" || i < 0 || i+1 == len(cmd) {
				t.Errorf("strand command = %q, want [gateway --http 0.0.0.0:<port>]", cmd)
				continue
			}
			host, port, _ := strings.Cut(cmd[i+1], ":")
			if host != "0.0.0.0" {
				t.Errorf("strand --http %s: want 0.0.0.0, reachable from outside the container", cmd[i+1])
			}
			if !slices.ContainsFunc(words(svc["ports"]), func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
				t.Errorf("strand ports = %q, want the gateway's port %s published", words(svc["ports"]), port)
			}
		default:
			if len(cmd) == 0 || cmd[0] != "worker" {
				t.Errorf("%s command = %q, want [worker …]", name, cmd)
			}
		}
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(src)
	build := regexp.MustCompile(`(?m)^RUN .*\bgo build\b.* \./cmd/strand\s*$`).FindString(df)
	if build == "" {
		t.Fatal("Dockerfile: no RUN … go build … ./cmd/strand line")
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("Dockerfile builds with cgo (want CGO_ENABLED=0 for a static binary): %s", build)
	}
	if !strings.Contains(build, "-o /strand") || !strings.Contains(df, `ENTRYPOINT ["/strand"]`) {
		t.Error(`Dockerfile: want the binary at /strand and ENTRYPOINT ["/strand"]`)
	}
	if _, err := os.Stat("cmd/strand"); err != nil {
		t.Errorf("Dockerfile builds ./cmd/strand: %v", err)
	}
	// The builder image's Go must be the go.mod's language version.
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	got := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S* AS build`).FindStringSubmatch(df)
	if want == nil || got == nil || got[1] != want[1] {
		t.Errorf("Dockerfile builder golang:%v, go.mod go %v: want the same major.minor", got, want)
	}
}

func TestParseYAML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"a: 1\nb: x # comment\n", "map[a:1 b:x]"},
		{"# head\na:\n  b: \"q # not a comment\"\n  c: 'single'\n", "map[a:map[b:q # not a comment c:single]]"},
		{"l:\n  - x\n  - \"y\"\nm: [\"-js\", -sd, /data]\n", "map[l:[x y] m:[-js -sd /data]]"},
		{"l:\n- same-indent\n- list\nk: v\n", "map[k:v l:[same-indent list]]"},
		{"a:\n  b:\n\n    c: d\n  e: []\n", "map[a:map[b:map[c:d] e:[]]]"},
		{"v:\n", "map[v:<nil>]"},
	} {
		got, err := parseYAML(tc.src)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("parseYAML(%q) = %v, %v; want %s", tc.src, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a: 1\n   b: 2\n", "- x\ny: 1\n", "just text\n", "l:\n  - k: v\n"} {
		if got, err := parseYAML(bad); err == nil {
			t.Errorf("parseYAML(%q) = %v, want an error", bad, got)
		}
	}
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// words is a compose command or list: a list of strings, or one string
// split at spaces.
func words(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// env is a compose environment section, as a map or as a KEY=VALUE list.
func env(v any) map[string]string {
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out[k] = fmt.Sprint(e)
		}
	case []any:
		for _, e := range x {
			k, val, _ := strings.Cut(fmt.Sprint(e), "=")
			out[k] = val
		}
	}
	return out
}

// depends is a compose depends_on section, as a list or a map of conditions.
func depends(v any) []string {
	if m, ok := v.(map[string]any); ok {
		return keys(m)
	}
	return words(v)
}

// yamlLine is one meaningful line: its indentation and its text without
// the indentation and any comment.
type yamlLine struct {
	indent int
	text   string
	n      int
}

// parseYAML reads the block-style subset of YAML that compose files use:
// maps, lists of scalars, flow lists, plain and quoted scalars. Values are
// map[string]any, []any, string or nil. Anything else is an error.
func parseYAML(src string) (any, error) {
	var lines []yamlLine
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "\t") {
			return nil, fmt.Errorf("line %d: tab", i+1)
		}
		text := strings.TrimRight(stripComment(l), " \r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		trimmed := strings.TrimLeft(text, " ")
		lines = append(lines, yamlLine{indent: len(text) - len(trimmed), text: trimmed, n: i + 1})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	v, rest, err := parseBlock(lines, lines[0].indent)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("line %d: unexpected indentation", rest[0].n)
	}
	return v, err
}

// stripComment cuts a # comment that starts a line or follows a space,
// outside quotes.
func stripComment(l string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' '):
			return l[:i]
		}
	}
	return l
}

func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// parseBlock reads the map or list whose lines start at indent.
func parseBlock(lines []yamlLine, indent int) (any, []yamlLine, error) {
	if isItem(lines[0].text) {
		return parseList(lines, indent)
	}
	m := map[string]any{}
	for len(lines) > 0 && lines[0].indent == indent {
		l := lines[0]
		if isItem(l.text) {
			return nil, nil, fmt.Errorf("line %d: list item in a map", l.n)
		}
		key, val, ok := cutKey(l.text)
		if !ok {
			return nil, nil, fmt.Errorf("line %d: want key: value, got %q", l.n, l.text)
		}
		lines = lines[1:]
		var v any
		var err error
		switch {
		case val != "":
			v, err = scalar(val)
		case len(lines) > 0 && lines[0].indent > indent:
			v, lines, err = parseBlock(lines, lines[0].indent)
		case len(lines) > 0 && lines[0].indent == indent && isItem(lines[0].text):
			v, lines, err = parseList(lines, indent) // a list may sit at its key's indentation
		}
		if err != nil {
			return nil, nil, err
		}
		m[key] = v
	}
	if len(lines) > 0 && lines[0].indent > indent {
		return nil, nil, fmt.Errorf("line %d: unexpected indentation", lines[0].n)
	}
	return m, lines, nil
}

func parseList(lines []yamlLine, indent int) (any, []yamlLine, error) {
	list := []any{}
	for len(lines) > 0 && lines[0].indent == indent && isItem(lines[0].text) {
		l := lines[0]
		item := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if item == "" || strings.HasPrefix(item, "- ") {
			return nil, nil, fmt.Errorf("line %d: nested block in a list item is not supported", l.n)
		}
		if _, _, ok := cutKey(item); ok && item[0] != '"' && item[0] != '\'' {
			return nil, nil, fmt.Errorf("line %d: maps in a list are not supported", l.n)
		}
		v, err := scalar(item)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", l.n, err)
		}
		list = append(list, v)
		lines = lines[1:]
	}
	if len(lines) > 0 && lines[0].indent >= indent && !(lines[0].indent == indent && !isItem(lines[0].text)) {
		return nil, nil, fmt.Errorf("line %d: unexpected line after a list", lines[0].n)
	}
	return list, lines, nil
}

// cutKey splits "key: value" or "key:"; a key is plain (compose's are).
func cutKey(text string) (key, val string, ok bool) {
	if k, ok := strings.CutSuffix(text, ":"); ok && !strings.Contains(k, ": ") {
		return k, "", k != ""
	}
	k, v, ok := strings.Cut(text, ": ")
	if !ok || k == "" || strings.ContainsAny(k[:1], `"'[{`) {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

func scalar(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		list := []any{}
		inner := strings.TrimSpace(s[1 : len(s)-1])
		if inner == "" {
			return list, nil
		}
		for _, e := range splitFlow(inner) {
			v, err := scalar(strings.TrimSpace(e))
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case strings.HasPrefix(s, "{"):
		return nil, fmt.Errorf("flow maps are not supported: %s", s)
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, fmt.Errorf("unterminated quote: %s", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	return s, nil
}

// splitFlow splits a flow list's inside at commas outside quotes.
func splitFlow(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// TestCIRunsREADMECommand: .ci/run runs exactly the test command that the
// README gives a fresh clone, so what CI checks is what a reader runs.
func TestCIRunsREADMECommand(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^(go test [^#\n]*?)\\s*(#.*)?$").FindStringSubmatch(string(readme))
	if m == nil {
		t.Fatal("README.md: no `go test …` command line")
	}
	lines := strings.Split(strings.TrimSpace(string(ci)), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != m[1] {
		t.Errorf(".ci/run ends with %q, README.md's test command is %q", last, m[1])
	}
}
