package stacks

import (
	"fmt"

	"github.com/djangostack/infra/components"
)

// Validate reports every problem of a profile, each at its config key.
func Validate(stack string, p Profile) components.Problems {
	var ps components.Problems
	if len(p.Domains) == 0 {
		ps.Add("domains", "must list the site's domains, the canonical one first (e.g. [example.com, www.example.com]); set it in Pulumi.%s.yaml", stack)
	}
	seen := map[string]bool{}
	for i, d := range p.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		if _, err := components.ParseDomain(d); err != nil {
			ps.Add(key, "%v", err)
		} else if seen[d] {
			ps.Add(key, "%q is listed twice", d)
		}
		seen[d] = true
	}
	ps.Merge("postgres", p.Postgres.Check())
	ps.Merge("redis", p.Redis.Check())
	ps.Merge("backend", p.Backend.Check())
	ps.Merge("nginx", p.Nginx.Check())
	ps.Merge("traefik", p.Traefik.Check())
	ps.Merge("edge", p.Edge.Check())
	if p.TLS && p.Traefik.ACME.Challenge == "dns" && !p.Edge.Enabled() {
		ps.Add("traefik.acme.challenge", "dns proves the domains through Cloudflare: set edge.zoneId, or use http or tls")
	}
	return ps
}
