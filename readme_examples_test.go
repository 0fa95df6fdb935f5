package strand_test

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamples keeps README.md and the Examples together: every
// fenced go block names its Example in a comment just above it, every
// Example named (in a tag or in backquotes as pkg.ExampleName) exists with
// an // Output: comment, and every call or composite literal of a
// snippet's qualified names (w.Submit(, writer.Config{) appears in its
// Example's source.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkReadme(string(b), ".") {
		t.Error(err)
	}
}

// The checker itself finds each kind of drift.
func TestReadmeExamplesDrift(t *testing.T) {
	t.Parallel()
	readme := "# x\n\n```go\nw.Submit(ctx, \"add\", 2, 3)\n```\n\n" +
		"<!-- Example: writer.ExampleNope -->\n```go\nx := 1\n```\n\n" +
		"<!-- Example: examples.Example_readme -->\n```go\nh.Result(ctx, &sum) // w.Gone() in a comment is not code\nh.Vanished(ctx)\n```\n\n" +
		"See `dispatch.ExampleMissing` and `strand.ExampleNewFunc`.\n"
	errs := checkReadme(readme, ".")
	want := []string{
		"README.md:3: a go block without an <!-- Example: pkg.ExampleName --> comment above it",
		"README.md:8: writer.ExampleNope: no such Example in writer",
		"README.md:13: examples.Example_readme does not call h.Vanished",
		"README.md:18: dispatch.ExampleMissing: no such Example in dispatch",
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, err := range errs {
		if err.Error() != want[i] {
			t.Errorf("error %d: %q, want %q", i, err, want[i])
		}
	}
}

var (
	exampleTag = regexp.MustCompile(`<!-- Example: ([\w/]+)\.(Example\w*) -->`)
	exampleRef = regexp.MustCompile("`([\\w/]+)\\.(Example\\w*)`")
)

// checkReadme checks readme against the Examples of the packages under
// root; it returns one error per drift, in the order of the README.
func checkReadme(readme, root string) []error {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("README.md:%d: "+format, append([]any{line}, args...)...))
	}
	lines := strings.Split(readme, "\n")
	examples := map[string]map[string]exampleSource{} // package → name → source
	lookup := func(line int, pkg, name string) (exampleSource, bool) {
		exs, ok := examples[pkg]
		if !ok {
			var err error
			if exs, err = packageExamples(root, pkg); err != nil {
				fail(line, "%s.%s: %v", pkg, name, err)
				examples[pkg] = nil
				return exampleSource{}, false
			}
			examples[pkg] = exs
		}
		ex, ok := exs[name]
		switch {
		case exs == nil:
			return exampleSource{}, false
		case !ok:
			fail(line, "%s.%s: no such Example in %s", pkg, name, pkg)
		case !ex.output:
			fail(line, "%s.%s has no // Output: comment, so go test does not run it", pkg, name)
		}
		return ex, ok
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		for _, m := range exampleRef.FindAllStringSubmatch(line, -1) {
			lookup(i+1, m[1], m[2])
		}
		if strings.TrimSpace(line) != "```go" {
			continue
		}
		start := i + 1
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		prev := ""
		for j := start - 2; j >= 0; j-- {
			if prev = strings.TrimSpace(lines[j]); prev != "" {
				break
			}
		}
		m := exampleTag.FindStringSubmatch(prev)
		if m == nil {
			fail(start, "a go block without an <!-- Example: pkg.ExampleName --> comment above it")
			continue
		}
		ex, ok := lookup(start, m[1], m[2])
		if !ok {
			continue
		}
		for _, use := range qualifiedUses(strings.Join(body, "\n")) {
			if !strings.Contains(ex.src, use) {
				fail(start, "%s.%s does not call %s", m[1], m[2], strings.TrimRight(use, "({"))
			}
		}
	}
	return errs
}

type exampleSource struct {
	src    string // the Example function's source
	output bool   // it has an // Output: comment: go test runs it
}

// packageExamples returns the Examples of the test files of package pkg
// ("strand" is the module root, others are directories under root).
func packageExamples(root, pkg string) (map[string]exampleSource, error) {
	dir := root
	if pkg != "strand" {
		dir = filepath.Join(root, filepath.FromSlash(pkg))
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no test files in %s", dir)
	}
	fset := token.NewFileSet()
	out := map[string]exampleSource{}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		bodies := map[string]string{}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				bodies[fn.Name.Name] = string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset])
			}
		}
		for _, ex := range doc.Examples(f) {
			name := "Example" + ex.Name
			out[name] = exampleSource{src: bodies[name], output: ex.Output != "" || ex.EmptyOutput}
		}
	}
	return out, nil
}

// qualifiedUses returns the calls and composite literals of qualified
// names in a Go snippet, comments skipped: "w.Submit(", "writer.Config{".
func qualifiedUses(snippet string) []string {
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("snippet.go", -1, len(snippet))
	s.Init(file, []byte(snippet), nil, 0) // comments are skipped
	var toks []string
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.IDENT {
			toks = append(toks, lit)
		} else {
			toks = append(toks, tok.String())
		}
	}
	seen := map[string]bool{}
	var uses []string
	for i := 0; i+3 < len(toks); i++ {
		if !isIdent(toks[i]) || toks[i+1] != "." || !isIdent(toks[i+2]) || (toks[i+3] != "(" && toks[i+3] != "{") {
			continue
		}
		use := toks[i] + "." + toks[i+2] + toks[i+3]
		if !seen[use] {
			seen[use] = true
			uses = append(uses, use)
		}
	}
	return uses
}

func isIdent(s string) bool {
	return s != "" && token.Lookup(s) == token.IDENT && (s[0] == '_' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z')
}
