package handler

import (
	"fmt"
	"slices"
	"sync"
)

// Table maps function names to handlers, safe for concurrent use: the
// state of a registry.Registry, which is defined as a Table so that
// strand's own packages (reader, runner, strandtest, cmd) look handlers up
// and list them with (*handler.Table)(reg).Lookup(name) and .Names(), while
// users see only Register and MustRegister.
type Table struct {
	mu    sync.RWMutex
	funcs map[string]*Func
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{funcs: make(map[string]*Func)} }

// Add adds f under its name, refusing a name already taken.
func (t *Table) Add(f *Func) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.funcs[f.name]; dup {
		return fmt.Errorf("register %s: name already registered", f.name)
	}
	t.funcs[f.name] = f
	return nil
}

// Lookup returns the handler registered under name.
func (t *Table) Lookup(name string) (*Func, bool) {
	t.mu.RLock()
	f, ok := t.funcs[name]
	t.mu.RUnlock()
	return f, ok
}

// Names lists the registered names, sorted.
func (t *Table) Names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := make([]string, 0, len(t.funcs))
	for n := range t.funcs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
