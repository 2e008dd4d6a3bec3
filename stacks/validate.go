package stacks

import (
	"fmt"
	"regexp"

	"github.com/djangostack/infra/components"
)

var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// Validate reports every problem of a profile, each at its config key.
func Validate(stack string, p Profile) components.Problems {
	var ps components.Problems
	if len(p.Domains) == 0 {
		ps.Add("domains", "must list the site's domains, the canonical one first (e.g. [example.com, www.example.com]); set it in Pulumi.%s.yaml", stack)
	}
	seen := map[string]bool{}
	for i, d := range p.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		switch {
		case !domainName.MatchString(d) || len(d) > 253:
			ps.Add(key, "%q is not a domain name (e.g. example.com; no scheme, port or path)", d)
		case seen[d]:
			ps.Add(key, "%q is listed twice", d)
		}
		seen[d] = true
	}
	if p.Backend.Image == "" {
		ps.Add("backend.image", "must be set to your Django image (e.g. registry.example.com/app:1.4.2): pulumi config set --path backend.image <image> --stack %s", stack)
	}
	ps.Merge("postgres", p.Postgres.Check())
	ps.Merge("redis", p.Redis.Check())
	ps.Merge("backend", p.Backend.Check())
	ps.Merge("nginx", p.Nginx.Check())
	ps.Merge("traefik", p.Traefik.Check())
	return ps
}
