package stacks

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
	"github.com/djangostack/infra/stacks/stackname"
)

// checkHost reports a Docker host the provider could not reach, and a stack
// that names none: only local may use the socket of the machine running
// Pulumi, and only by saying so.
func checkHost(ps *problems.Problems, stack string, h Host) {
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

// maxDomainName is the longest DNS name, dots included (RFC 1035).
const maxDomainName = 253

// checkStackName reports a stack name the program cannot deploy under: one
// envctl refuses, and one that makes the name of a container that others
// resolve (DB_HOST, REDIS_HOST) longer than a DNS label.
func checkStackName(ps *problems.Problems, project, stack string) {
	if err := stackname.Check(stack); err != nil {
		ps.Add(StackNameKey, "%v", err)
		return
	}
	longest := ""
	for _, host := range resolvedNames(naming.NewNaming(project, stack)) {
		if len(host) > len(longest) {
			longest = host
		}
	}
	if over := len(longest) - naming.MaxDNSLabel; over > 0 {
		ps.Add(StackNameKey, "%q makes the container name %q %d characters long, past DNS's %d per label: the backend could not resolve DB_HOST and REDIS_HOST; use a name of at most %d characters",
			stack, longest, len(longest), naming.MaxDNSLabel, len(stack)-over)
	}
}

// checkDomains reports the site's domains as the config lists them, before
// they are written in lower case and, for a clone, put under its name.
func checkDomains(ps *problems.Problems, stack string, p Profile) {
	if len(p.Domains) == 0 {
		ps.Add("domains", "must list the site's domains, the canonical one first (e.g. [example.com, www.example.com]); set it in Pulumi.%s.yaml", stack)
	}
	first := map[string]int{}
	for i, d := range p.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		lower, err := units.ParseDomain(d)
		if err != nil {
			ps.Add(key, "%v", err)
			continue
		}
		if j, seen := first[lower]; seen {
			if p.Domains[j] == d {
				ps.Add(key, "%q is listed twice (domains[%d])", d, j)
			} else {
				ps.Add(key, "%q is listed twice: domains[%d] is %q, and DNS names ignore case", d, j, p.Domains[j])
			}
			continue
		}
		first[lower] = i
		isIP := net.ParseIP(d) != nil
		switch {
		case isIP && stackname.IsClone(stack):
			ps.Add(key, "%q is an IP address: a clone of staging answers on its own name under staging's domain (%s.<domain>), so staging's domains must be names", d, stack)
		case isIP && p.TLS:
			ps.Add(key, "%q is an IP address: with tls on, Traefik gets the site's certificate from Let's Encrypt, which issues certificates for domain names; list the name that points at this address, or set tls: false", d)
		case isIP && p.Edge.Enabled():
			ps.Add(key, "%q is an IP address: edge.zoneId makes Cloudflare records for the site's domains, and records have names; list the name that points at this address", d)
		case stackname.IsClone(stack) && !strings.HasPrefix(lower, stack+".") && len(stack)+1+len(d) > maxDomainName:
			ps.Add(key, "%q under the clone's name (%s.%s) is longer than DNS's %d characters", d, stack, d, maxDomainName)
		}
	}
}

// checkBuildContext reports a local build whose context directory or
// Dockerfile is missing, before anything is registered: the build would
// otherwise fail halfway through the update, naming a temporary path.
func checkBuildContext(root string, b backend.Settings) (ps problems.Problems) {
	if b.Image != "" || b.Build.Context == "" {
		return nil
	}
	dir := b.Build.Context
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	switch info, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		ps.Add("backend.build.context", "%q does not exist (in the project directory, %s); name the directory that holds the backend's Dockerfile, or set backend.image", b.Build.Context, dir)
		return ps
	case err != nil:
		ps.Add("backend.build.context", "%q cannot be read: %v", b.Build.Context, err)
		return ps
	case !info.IsDir():
		ps.Add("backend.build.context", "%q is a file, not a directory (%s); name the directory that holds the backend's Dockerfile", b.Build.Context, dir)
		return ps
	}
	dockerfile := b.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if info, err := os.Stat(filepath.Join(dir, dockerfile)); err != nil || info.IsDir() {
		ps.AddComparing("backend.build.dockerfile", []string{"backend.build.context"}, "%q is not a file in the build context %q (%s)", dockerfile, b.Build.Context, dir)
	}
	return ps
}

// Validate reports every problem of a profile, each at its config key: what
// cannot work in any stack. Components check their own servers' bounds;
// the bounds below compare values across components.
func Validate(stack string, p Profile) problems.Problems {
	var ps problems.Problems
	checkDomains(&ps, stack, p)
	checkHost(&ps, stack, p.Host)
	for _, c := range p.parts(nil) {
		if c.Check != nil {
			ps.Merge(c.ConfigKey(), c.Check())
		}
	}
	ps.Merge("edge", p.Edge.Check())
	if err := p.Runtime.Check(); err != nil {
		ps.Add("runtime", "%v", err)
	}
	if p.Runtime == runtime.Swarm && p.Traefik.Ingress != traefik.IngressOwn {
		ps.Add("traefik.ingress", "%q is for stacks sharing one Docker host; on a swarm each stack runs its own Traefik (own)", p.Traefik.Ingress)
	}
	if p.Runtime == runtime.Swarm {
		if p.Backend.Image == "" {
			ps.Add("backend.image", "must be set on a swarm: its nodes pull the image from a registry, a local build exists on one host only")
		}
		if p.Traefik.BindAddress != "" {
			// docker.Service has no host IP for a published port.
			ps.Add("traefik.bindAddress", "%q cannot hold on a swarm: a service publishes its ports on every address of the node that runs it; leave it empty and close the ports with the node's firewall", p.Traefik.BindAddress)
		}
		if !nodeLabel.MatchString(p.Swarm.DataNodeLabel) {
			ps.Add("swarm.dataNodeLabel", "%q is not a node label name (e.g. djangostack.data)", p.Swarm.DataNodeLabel)
		}
	}
	if p.TLS && p.Traefik.ACME.Challenge == "dns" && !p.Edge.Enabled() {
		ps.Add("traefik.acme.challenge", "dns proves the domains through Cloudflare: set edge.zoneId, or use http or tls")
	}
	for _, b := range bounds {
		ps = append(ps, b.check(stack, p)...)
	}
	return ps
}

// ineffective reports settings whose value the stack never uses: warnings
// in every stack, production's too, since nothing breaks; the setting may
// be meant for a later change (tls: true), and the warning says it is not
// in force yet.
func ineffective(p Profile) (ps problems.Problems) {
	if a := p.Traefik.ACME; a.TrustsPrivateCA() {
		switch {
		case !p.TLS:
			ps.Add("traefik.acme.caCertificates", "has no effect: tls is false, so Traefik asks no ACME CA for certificates")
		case a.CAServer == "":
			ps.Add("traefik.acme.caCertificates", "has no effect: traefik.acme.caServer is empty, so Traefik asks Let's Encrypt, whose directory a public root vouches for; set caServer to your CA's directory")
		}
	}
	return ps
}

// A bound is what cannot work across components, whatever the stack: a
// value Docker refuses, or one that leaves the host without what the stacks
// on it share. Breaking one is an error in every stack; the guardrails are
// what is only unwise.
type bound struct {
	// rule names the bound (docs/configuration.md); source is where it comes from.
	rule, source string
	check        func(stack string, p Profile) problems.Problems
}

var bounds = []bound{
	{rule: "cpus-within-host", source: "Docker", check: checkCPUsWithinHost},
	{rule: "distinct-ports", source: "Docker", check: checkDistinctPorts},
	{rule: "one-traefik-per-host", source: "the host's ports 80 and 443", check: checkIngress},
}

// BoundRules name the bounds checked across components, for docs/configuration.md.
func BoundRules() []string {
	out := make([]string, len(bounds))
	for i, b := range bounds {
		out[i] = b.rule
	}
	return out
}

func checkCPUsWithinHost(_ string, p Profile) (ps problems.Problems) {
	for _, c := range p.sized() {
		if limit := c.Settings.Resources.Limits.CPUs; limit > p.Host.CPUs+1e-9 {
			ps.AddComparing(c.ConfigKey()+".resources.limits.cpus", []string{"host.cpus"}, "%q is more than the host's %q CPUs (host.cpus): Docker refuses a limit above the CPUs it has (\"range of CPUs is from 0.01 to %s\")",
				limit.String(), p.Host.CPUs.String(), p.Host.CPUs.String())
		}
	}
	return ps
}

func checkDistinctPorts(_ string, p Profile) (ps problems.Problems) {
	t := p.Traefik
	if t.Ingress != traefik.IngressJoin && p.TLS && t.HTTPPort == t.HTTPSPort {
		ps.AddComparing("traefik.httpsPort", []string{"traefik.httpPort"}, "%d is also traefik.httpPort: Docker cannot publish one host port for both of Traefik's entrypoints (http and https)", t.HTTPSPort)
	}
	return ps
}

// checkIngress keeps one Traefik on each host for ports 80 and 443: staging
// runs it, and its clones join it.
func checkIngress(stack string, p Profile) (ps problems.Problems) {
	t := p.Traefik
	clone := stackname.IsClone(stack)
	switch {
	case clone && t.Ingress == traefik.IngressHost:
		ps.Add("traefik.ingress", "%q would make clone %s run the host's shared Traefik, which staging runs: two of them fight for ports %d and %d; a clone joins staging's (join)", t.Ingress, stack, t.HTTPPort, t.HTTPSPort)
	case clone && t.Ingress == traefik.IngressOwn && (t.HTTPPort == 80 || (p.TLS && t.HTTPSPort == 443)):
		ps.Add("traefik.ingress", "%q gives clone %s a Traefik of its own on ports %d and %d, which staging's Traefik holds on the host the clones share; join staging's (join), or give this one ports of its own (traefik.httpPort, traefik.httpsPort)", t.Ingress, stack, t.HTTPPort, t.HTTPSPort)
	case !clone && t.Ingress == traefik.IngressJoin:
		ps.Add("traefik.ingress", "%q makes %s join a Traefik that staging runs for its clones, and no stack would run one for %s: the host would have no Traefik at all; use own (production, local) or host (staging)", t.Ingress, stack, stack)
	}
	return ps
}

// resolvedNames are the Docker names other containers look up by DNS on the
// data network: the backend's DB_HOST and REDIS_HOST.
func resolvedNames(n naming.Naming) []string {
	return []string{postgres.Host(n), redis.Host(n)}
}
