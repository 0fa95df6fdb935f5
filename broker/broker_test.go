package broker

import (
	"reflect"
	"testing"

	ib "github.com/strand-run/strand/internal/broker"
)

// TestConfigMatchesInternal: the public Config and FailoverConfig have the
// internal ones' fields, tags included, and internal() maps every field
// (a field added to one and not the other fails here).
func TestConfigMatchesInternal(t *testing.T) {
	for _, p := range []struct{ pub, in reflect.Type }{
		{reflect.TypeFor[Config](), reflect.TypeFor[ib.Config]()},
		{reflect.TypeFor[FailoverConfig](), reflect.TypeFor[ib.FailoverConfig]()},
	} {
		if p.pub.NumField() != p.in.NumField() {
			t.Fatalf("%v has %d fields, %v %d", p.pub, p.pub.NumField(), p.in, p.in.NumField())
		}
		for i := range p.pub.NumField() {
			a, b := p.pub.Field(i), p.in.Field(i)
			if a.Name != b.Name || a.Tag != b.Tag || a.Type.Kind() != b.Type.Kind() {
				t.Errorf("field %d: %s %v `%s` vs %s %v `%s`", i, a.Name, a.Type, a.Tag, b.Name, b.Type, b.Tag)
			}
		}
	}
	c := Config{URL: "u", Name: "n", Creds: "c", NKey: "k", Token: "t", User: "us", Password: "p", TLSCert: "tc",
		TLSKey: "tk", TLSCA: "ca", InboxPrefix: "i", Prefix: "x", Replicas: 3, ConnectTimeout: 1, DLQMaxAge: 2,
		ItemsMaxAge: 3, Failover: FailoverConfig{Interval: 4, Timeout: 5, Failures: 6}}
	got := reflect.ValueOf(c.internal())
	want := reflect.ValueOf(c)
	for i := range want.NumField() {
		if f := want.Type().Field(i).Name; f != "Failover" && !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("%s not mapped", f)
		}
	}
	if f := c.internal().Failover; f.Interval != 4 || f.Timeout != 5 || f.Failures != 6 {
		t.Errorf("failover not mapped: %+v", f)
	}
}
