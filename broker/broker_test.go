package broker

import (
	"reflect"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
)

// TestConfigMatchesInternal: the public Config has the internal one's
// fields, tags included — the failover watchdog's flattened, Failover*
// with tags FAILOVER_* (the same STRAND_FAILOVER_* variables as the
// internal nested FailoverConfig), and its Logger as Logger — and
// internal() maps every field (a field added to one and not the other
// fails here).
func TestConfigMatchesInternal(t *testing.T) {
	type field struct {
		name string
		tag  reflect.StructTag
		kind reflect.Kind
	}
	var in []field
	it := reflect.TypeFor[ib.Config]()
	for i := range it.NumField() {
		f := it.Field(i)
		if f.Name != "Failover" {
			in = append(in, field{f.Name, f.Tag, f.Type.Kind()})
			continue
		}
		ft := f.Type
		for j := range ft.NumField() {
			g := ft.Field(j)
			if g.Name == "Logger" {
				in = append(in, field{"Logger", g.Tag, g.Type.Kind()})
				continue
			}
			tag := reflect.StructTag(`envconfig:"FAILOVER_` + g.Tag.Get("envconfig") + `"`)
			in = append(in, field{"Failover" + g.Name, tag, g.Type.Kind()})
		}
	}
	pt := reflect.TypeFor[Config]()
	if pt.NumField() != len(in) {
		t.Fatalf("Config has %d fields, the internal one (flattened) %d", pt.NumField(), len(in))
	}
	for i, b := range in {
		a := pt.Field(i)
		if a.Name != b.name || a.Tag != b.tag || a.Type.Kind() != b.kind {
			t.Errorf("field %d: %s `%s` %v vs %s `%s` %v", i, a.Name, a.Tag, a.Type.Kind(), b.name, b.tag, b.kind)
		}
	}
	c := Config{URL: "u", Name: "n", Creds: "c", NKey: "k", Token: "t", User: "us", Password: "p", TLSCert: "tc",
		TLSKey: "tk", TLSCA: "ca", InboxPrefix: "i", Prefix: "x", Replicas: 3, ConnectTimeout: 1, DLQMaxAge: 2,
		ItemsMaxAge: 3, FailoverInterval: 4, FailoverTimeout: 5, FailoverFailures: 6}
	got := reflect.ValueOf(c.internal())
	want := reflect.ValueOf(c)
	for i := range got.NumField() {
		if f := got.Type().Field(i).Name; f != "Failover" && !reflect.DeepEqual(got.Field(i).Interface(), want.FieldByName(f).Interface()) {
			t.Errorf("%s not mapped", f)
		}
	}
	if f := c.internal().Failover; f.Interval != 4 || f.Timeout != 5 || f.Failures != 6 {
		t.Errorf("failover not mapped: %+v", f)
	}
}

// TestFromEnvFailover: the flattened fields read the variables they did.
func TestFromEnvFailover(t *testing.T) {
	t.Setenv("STRAND_FAILOVER_INTERVAL", "7s")
	t.Setenv("STRAND_FAILOVER_TIMEOUT", "2s")
	t.Setenv("STRAND_FAILOVER_FAILURES", "5")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.FailoverInterval != 7*time.Second || c.FailoverTimeout != 2*time.Second || c.FailoverFailures != 5 {
		t.Errorf("got %v %v %d", c.FailoverInterval, c.FailoverTimeout, c.FailoverFailures)
	}
}
