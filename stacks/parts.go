package stacks

import (
	"slices"

	"github.com/djangostack/infra/components/runtime"
)

// parts are the profile's parts, in the order the change notes list them,
// each described by its component (runtime.Part). Validation, the
// guardrails, the stack outputs, the specs and the change notes all read
// them from here: a new component is added here once, and its registration
// step records what it made (Deployment.record). dataVolumes are the Docker
// names of the data volumes (postgres, media), which a cost may name.
func (p Profile) parts(dataVolumes map[string]string) []runtime.Part {
	return slices.Concat(
		[]runtime.Part{p.Postgres.Part(dataVolumes["postgres"]), p.Redis.Part()},
		p.Backend.Parts(),
		[]runtime.Part{p.Nginx.Part(), p.Traefik.Part(), p.Traefik.DockerAPI.Part(), p.Backup.Part()},
	)
}

// sized are the parts the stack runs: those whose limits, reservations and
// healthchecks the bounds and guardrails weigh.
func (p Profile) sized() []runtime.Part {
	return slices.DeleteFunc(p.parts(nil), func(c runtime.Part) bool { return c.Off })
}
