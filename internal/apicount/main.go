// Command apicount counts the exported identifiers of strand's packages,
// so that a change to the public API can state its delta:
//
//	go run ./internal/apicount          # one line per package, then the total
//	go run ./internal/apicount -v       # and each identifier
//
// An identifier is an exported top-level const, var, func or type of a
// package's non-test files, or an exported method of one of its exported
// types. Struct fields, interface methods and the methods of unexported
// types are not counted; packages under internal/, main packages and
// other modules (bench/) are skipped.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list each identifier")
	root := flag.String("root", ".", "the module's root directory")
	flag.Parse()
	counts, err := count(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicount:", err)
		os.Exit(1)
	}
	total := 0
	for _, c := range counts {
		total += len(c.names)
		fmt.Printf("%-18s %4d\n", c.pkg, len(c.names))
		if *verbose {
			for _, n := range c.names {
				fmt.Printf("    %s\n", n)
			}
		}
	}
	fmt.Printf("%-18s %4d\n", "total", total)
}

type pkgCount struct {
	pkg   string // import path relative to the module ("strand" for the root)
	names []string
}

// count walks the module under root; directories with their own go.mod
// (other modules), testdata, internal and hidden ones are skipped.
func count(root string) ([]pkgCount, error) {
	var out []pkgCount
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root {
			if strings.HasPrefix(name, ".") || name == "testdata" || name == "internal" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		c, ok, err := countDir(root, path)
		if err != nil {
			return err
		}
		if ok && len(c.names) > 0 {
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

func countDir(root, dir string) (pkgCount, bool, error) {
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return pkgCount{}, false, err
	}
	pkgs := map[string][]*ast.File{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return pkgCount{}, false, err
		}
		pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
	}
	for name, files := range pkgs {
		if name == "main" {
			continue
		}
		rel, _ := filepath.Rel(root, dir)
		c := pkgCount{pkg: filepath.ToSlash(rel)}
		if rel == "." {
			c.pkg = "strand"
		}
		dp, err := doc.NewFromFiles(fset, files, "x", doc.AllDecls)
		if err != nil {
			return pkgCount{}, false, err
		}
		add := func(kind, n string) {
			if ast.IsExported(n) {
				c.names = append(c.names, kind+" "+n)
			}
		}
		values := func(vs []*doc.Value, kind string) {
			for _, v := range vs {
				for _, n := range v.Names {
					add(kind, n)
				}
			}
		}
		values(dp.Consts, "const")
		values(dp.Vars, "var")
		for _, f := range dp.Funcs {
			add("func", f.Name)
		}
		for _, t := range dp.Types {
			add("type", t.Name)
			values(t.Consts, "const")
			values(t.Vars, "var")
			for _, f := range t.Funcs {
				add("func", f.Name)
			}
			for _, m := range t.Methods {
				if ast.IsExported(t.Name) && ast.IsExported(m.Name) {
					c.names = append(c.names, "method "+t.Name+"."+m.Name)
				}
			}
		}
		sort.Strings(c.names)
		return c, true, nil
	}
	return pkgCount{}, false, nil
}
