package tests

import (
	"slices"
	"testing"
)

const typeDestroyGuard = "django-stack:stack:DestroyGuard"

// A stack that keeps its data has a protected guard that depends on every
// other resource, so that a destroy's first round holds the guard alone
// and fails there, before a container, network or volume is deleted (the
// engine applies protection per resource as it deletes, leaves first). One
// resource of the host left out of its dependencies would be deleted before
// the destroy fails: the test names it.
func TestTheDestroyGuardComesFirst(t *testing.T) {
	for _, c := range []struct{ name, stack string }{{"production", "production"}, {"production on a swarm", "production"}} {
		cfg := baseConfig(t, c.stack)
		if c.name == "production on a swarm" {
			cfg = swarmConfig(t)
		}
		r := deployOK(t, c.stack, cfg)
		guards := r.all(typeDestroyGuard)
		if len(guards) != 1 {
			t.Fatalf("%s: %d destroy guards, want 1", c.name, len(guards))
		}
		guard := guards[0]
		if !guard.Protect {
			t.Errorf("%s: the destroy guard is not protected", c.name)
		}
		for _, reg := range r.rec.regs {
			// A component's deletion touches nothing on the host, and
			// comes after its children's (the SDK records a dependency on
			// a component as one on each of its children).
			if !reg.Custom {
				continue
			}
			if !slices.Contains(guard.DependsOn, reg.URN) {
				t.Errorf("%s: the destroy guard does not depend on %s: a destroy would delete it before refusing", c.name, reg.URN)
			}
		}
	}
	// Stacks whose data may go have no guard: their destroy goes through.
	for _, stack := range []string{"staging", "local", "pr-42"} {
		if n := len(deployOK(t, stack, baseConfig(t, stack)).all(typeDestroyGuard)); n != 0 {
			t.Errorf("%s has %d destroy guards", stack, n)
		}
	}
}
