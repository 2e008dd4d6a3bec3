package tests

import (
	"reflect"
	"strings"
	"testing"
)

// Every container of every stack is locked down (docs/architecture.md,
// "Hardening"): every capability dropped but its own, no new privileges,
// and, when it runs for good, a read-only root filesystem with its files in
// volumes its writer filled, which never starts and is no route's server.
func TestEveryContainerIsLockedDown(t *testing.T) {
	for _, stack := range []string{"production", "staging", "local"} {
		r := deployOK(t, stack, fixtureConfig(t, stack))
		for _, c := range r.rec.regs {
			if c.Type != typeContainer {
				continue
			}
			caps := asMap(c.input("capabilities"))
			if !reflect.DeepEqual(caps["drops"], []any{"ALL"}) {
				t.Errorf("%s %s drops %v, want ALL", stack, c.Name, caps["drops"])
			}
			for _, add := range asSlice(caps["adds"]) {
				if !strings.HasPrefix(add.(string), "CAP_") {
					t.Errorf("%s %s adds %q, not as Docker reads it back", stack, c.Name, add)
				}
			}
			if got := c.strings("securityOpts"); !reflect.DeepEqual(got, []string{"no-new-privileges:true"}) {
				t.Errorf("%s %s security options %v", stack, c.Name, got)
			}
			tmpfs := asMap(c.input("tmpfs"))
			if tmpfs["/tmp"] != "rw,noexec,nosuid,nodev,mode=1777" && !c.isFileWriter() {
				t.Errorf("%s %s tmpfs %v, want /tmp", stack, c.Name, tmpfs)
			}
			switch {
			case c.isFileWriter():
				for k := range c.labels() {
					if strings.HasPrefix(k, "traefik.") {
						t.Errorf("%s %s, a writer, has the route label %s", stack, c.Name, k)
					}
				}
				if c.input("mustRun") != false || c.input("uploads") == nil {
					t.Errorf("%s %s, a writer, must run %v with uploads %v", stack, c.Name, c.input("mustRun"), c.input("uploads"))
				}
			case c.input("attach") == true:
				// A one-shot job: its root filesystem is writable.
			default:
				if c.input("readOnly") != true {
					t.Errorf("%s %s has a writable root filesystem", stack, c.Name)
				}
				if c.input("uploads") != nil {
					t.Errorf("%s %s gets uploads, which Docker refuses on a read-only root", stack, c.Name)
				}
			}
		}
	}
	// Users: the data servers as their own, the others root with at most
	// what they need.
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	for name, want := range map[string]string{"postgres": "postgres", "redis": "redis", "traefik": "", "nginx": ""} {
		if got := r.container(name).str("user"); got != want {
			t.Errorf("%s runs as %q, want %q", name, got, want)
		}
	}
	if got := asMap(r.container("traefik").input("capabilities"))["adds"]; !reflect.DeepEqual(got, []any{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("traefik keeps %v, want only NET_BIND_SERVICE", got)
	}
}

func TestEveryServiceIsLockedDown(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	for _, s := range r.all(typeService) {
		spec := asMap(asMap(s.input("taskSpec"))["containerSpec"])
		if spec["readOnly"] != true || !reflect.DeepEqual(spec["capDrops"], []any{"ALL"}) {
			t.Errorf("service %s read-only %v, drops %v", s.Name, spec["readOnly"], spec["capDrops"])
		}
		tmp := false
		for _, m := range asSlice(spec["mounts"]) {
			tmp = tmp || (asMap(m)["type"] == "tmpfs" && asMap(m)["target"] == "/tmp")
		}
		if !tmp {
			t.Errorf("service %s has no tmpfs at /tmp", s.Name)
		}
	}
}
