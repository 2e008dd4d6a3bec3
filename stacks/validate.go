package stacks

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/djangostack/infra/components"
)

// checkHost reports a Docker host the provider could not reach, and a stack
// that names none: only local may use the socket of the machine running
// Pulumi, and only by saying so.
func checkHost(ps *components.Problems, stack string, h Host) {
	if h.Docker == "" {
		ps.Add("host.docker", "must name the stack's Docker host in Pulumi.%s.yaml (e.g. ssh://deploy@203.0.113.10): a stack never falls back to the Docker of the machine running Pulumi", stack)
		return
	}
	u, err := url.Parse(h.Docker)
	switch {
	case err != nil:
		ps.Add("host.docker", "%q is not a Docker host address (ssh://user@server, unix:///var/run/docker.sock, tcp://server:2376)", h.Docker)
	case u.Scheme == "ssh" && (u.Hostname() == "" || u.User == nil || u.Path != ""):
		ps.Add("host.docker", "%q is not an ssh host address (ssh://user@server or ssh://user@server:2222)", h.Docker)
	case u.Scheme == "unix" && u.Path == "":
		ps.Add("host.docker", "%q names no socket (unix:///var/run/docker.sock)", h.Docker)
	case u.Scheme == "tcp" && u.Hostname() == "":
		ps.Add("host.docker", "%q names no server (tcp://server:2376)", h.Docker)
	case u.Scheme != "ssh" && u.Scheme != "unix" && u.Scheme != "tcp":
		ps.Add("host.docker", "%q is not a Docker host address (ssh://user@server, unix:///var/run/docker.sock, tcp://server:2376)", h.Docker)
	}
	if len(h.SSHOpts) > 0 && !strings.HasPrefix(h.Docker, "ssh://") {
		ps.Add("host.sshOpts", "only apply to an ssh:// host, not %q", h.Docker)
	}
	if h.Registry.Address != "" && h.Registry.Username == "" {
		ps.Add("host.registry.username", "must be set with host.registry.address")
	}
}

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
	checkHost(&ps, stack, p.Host)
	ps.Merge("postgres", p.Postgres.Check())
	ps.Merge("backup", p.Backup.Check())
	ps.Merge("redis", p.Redis.Check())
	ps.Merge("backend", p.Backend.Check())
	ps.Merge("nginx", p.Nginx.Check())
	ps.Merge("traefik", p.Traefik.Check())
	ps.Merge("edge", p.Edge.Check())
	if err := p.Runtime.Check(); err != nil {
		ps.Add("runtime", "%v", err)
	}
	if p.Runtime == components.RuntimeSwarm && p.Traefik.Ingress != components.IngressOwn {
		ps.Add("traefik.ingress", "%q is for stacks sharing one Docker host; on a swarm each stack runs its own Traefik (own)", p.Traefik.Ingress)
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
