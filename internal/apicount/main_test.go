package main

import (
	"slices"
	"testing"
)

func TestCount(t *testing.T) {
	counts, err := count("../..")
	if err != nil {
		t.Fatal(err)
	}
	byPkg := map[string][]string{}
	for _, c := range counts {
		byPkg[c.pkg] = c.names
	}
	for _, want := range []struct{ pkg, name string }{
		{"strand", "func Progress"},
		{"strand", "type Status"},
		{"strand", "method Status.Terminal"},
		{"strand", "const StatusPending"},
		{"strand", "const ErrTimeout"},
		{"strand", "var ErrClosed"},
		{"writer", "method Writer.Submit"},
		{"strandtest", "method Env.RequireSubmitted"},
	} {
		if !slices.Contains(byPkg[want.pkg], want.name) {
			t.Errorf("%s: %q not counted", want.pkg, want.name)
		}
	}
	for _, n := range byPkg["strand"] {
		if n == "method progressKey.String" || n == "type taskKey" {
			t.Errorf("unexported %q counted", n)
		}
	}
	if _, ok := byPkg["internal/demo"]; ok {
		t.Error("internal packages are counted")
	}
	if _, ok := byPkg["cmd/strand"]; ok {
		t.Error("main packages are counted")
	}
}
