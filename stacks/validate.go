package stacks

import (
	"fmt"
	"regexp"

	"github.com/djangostack/infra/components"
)

var nodeLabel = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

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
	if err := p.Runtime.Check(); err != nil {
		ps.Add("runtime", "%v", err)
	}
	if p.Runtime == components.RuntimeSwarm {
		if p.Backend.Image == "" {
			ps.Add("backend.image", "must be set on a swarm: its nodes pull the image from a registry, a local build exists on one host only")
		}
		if !nodeLabel.MatchString(p.Swarm.DataNodeLabel) {
			ps.Add("swarm.dataNodeLabel", "%q is not a node label name (e.g. djangostack.data)", p.Swarm.DataNodeLabel)
		}
	}
	if p.TLS && p.Traefik.ACME.Challenge == "dns" && !p.Edge.Enabled() {
		ps.Add("traefik.acme.challenge", "dns proves the domains through Cloudflare: set edge.zoneId, or use http or tls")
	}
	return ps
}
