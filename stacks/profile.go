// Package stacks turns a stack's name and Pulumi config into a validated
// Profile and deploys it. It is the only package that reads config: components
// receive plain typed settings.
package stacks

import (
	"strings"
	"time"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/backup"
	"github.com/djangostack/infra/components/edge"
	"github.com/djangostack/infra/components/nginx"
	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/secrets"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
	"github.com/djangostack/infra/stacks/stackname"
)

// Profile is everything one stack deploys, as typed values. Its json names
// are the Pulumi config keys: `django-stack:postgres` holds an object that is
// merged onto Profile.Postgres, key by key.
type Profile struct {
	// Domains the site answers on; the first is canonical and receives the
	// health probes. No default in production and staging: each stack's
	// Pulumi.<stack>.yaml names its own.
	Domains []string `json:"domains"`
	// TLS serves the site over https on port 443.
	TLS bool `json:"tls"`
	// KeepData protects the Postgres data, media and backups volumes from
	// deletion and keeps them on the host if the stack is destroyed; a
	// protected guard makes `pulumi destroy` refuse before it touches
	// anything.
	KeepData bool `json:"keepData"`
	// AllowDataVolumeReplacement lets one update put the Postgres data or
	// media volume under a new name, which starts it empty (default false;
	// production refuses such an update without it).
	AllowDataVolumeReplacement bool `json:"allowDataVolumeReplacement"`
	// Host is the Docker host the stack runs on.
	Host Host `json:"host"`
	// Runtime runs the workloads as containers on one host (container, the
	// default) or as services of a Docker Swarm (swarm).
	Runtime runtime.Runtime `json:"runtime"`
	// Swarm is where, on a swarm, each service may run.
	Swarm Swarm `json:"swarm"`
	// Postgres is the database server.
	Postgres postgres.Settings `json:"postgres"`
	// Backup are the scheduled dumps of the database.
	Backup backup.Settings `json:"backup"`
	// Rotation regenerates a generated secret when its revision changes.
	Rotation secrets.Rotation `json:"rotation"`
	// Redis is the cache and channel-layer server.
	Redis redis.Settings `json:"redis"`
	// Backend are the Django containers.
	Backend backend.Settings `json:"backend"`
	// Nginx serves /static/ and /media/.
	Nginx nginx.Settings `json:"nginx"`
	// Traefik is the reverse proxy in front.
	Traefik traefik.Settings `json:"traefik"`
	// Edge is Cloudflare in front of the site: DNS records and zone settings.
	Edge edge.Settings `json:"edge"`
	// Credentials are secrets read from config, never from the profile's
	// own keys and never printed.
	Credentials Credentials `json:"-"`
}

// Credentials are the secrets a profile needs from the stack's config.
type Credentials struct {
	// CloudflareToken is cloudflare:apiToken, required with edge.zoneId.
	CloudflareToken string
	// RegistryPassword is django-stack:registryPassword, required with
	// host.registry.address.
	RegistryPassword string
	// OffsiteSecretKey is django-stack:offsiteSecretKey, required with
	// backup.offsite.url.
	OffsiteSecretKey string
	// BackendSecrets are django-stack:backendSecrets, the app's own secret
	// variables, name to value; none by default.
	BackendSecrets map[string]string
}

// Host describes the machine the containers run on. Its size is what the
// containers' reservations must fit in.
type Host struct {
	// Docker is the host's Docker daemon: ssh://deploy@203.0.113.10 for a
	// server (no default in production, staging and their clones: each names
	// its own, so nothing falls back to the Docker of the machine running
	// Pulumi), unix:///var/run/docker.sock in local.
	Docker string `json:"docker"`
	// SSHOpts are extra ssh options for an ssh:// host, such as
	// ["-i", "/home/ci/.ssh/deploy", "-o", "StrictHostKeyChecking=yes"].
	SSHOpts []string `json:"sshOpts"`
	// Registry is the private registry the host pulls the backend image
	// from; its password is the secret config django-stack:registryPassword.
	Registry Registry `json:"registry"`
	// CPUs of the host.
	CPUs units.CPUs `json:"cpus"`
	// Memory of the host, Docker syntax.
	Memory units.Size `json:"memory"`
}

// Socket is the path of the daemon's socket of a unix:// host; empty for
// any other, whose socket is the daemon's own business.
func (h Host) Socket() string {
	if path, ok := strings.CutPrefix(h.Docker, "unix://"); ok {
		return path
	}
	return ""
}

// Registry is a private image registry and the user the host pulls as.
type Registry struct {
	// Address of the registry, such as registry.example.com.
	Address string `json:"address"`
	// Username the host logs in as.
	Username string `json:"username"`
}

// Swarm places a stack's services on a swarm's nodes.
type Swarm struct {
	// DataNodeLabel is the node label that marks the node holding the Postgres
	// and Redis volumes: their tasks run only there (default djangostack.data;
	// set it with docker node update --label-add djangostack.data=true NODE).
	DataNodeLabel string `json:"dataNodeLabel"`
	// SharedVolumes is the volume driver that gives every node the same
	// static and media files, such as the local driver with NFS options
	// (default none: local volumes, right for a single node).
	SharedVolumes runtime.VolumeDriver `json:"sharedVolumes"`
}

// DataConstraint is the placement of the services that own a volume.
func (s Swarm) DataConstraint() string {
	return "node.labels." + s.DataNodeLabel + " == true"
}

// Base is the guide: every value of the production-robustness guide, and
// nothing that belongs to one environment (no domains, no image).
func Base() Profile {
	return Profile{
		TLS:      true,
		KeepData: true,
		// The guide's reservations and the backups' add up to 4.1 CPUs and
		// 3264 MiB: a host of 6 CPUs and 8 GiB holds them with room to spare.
		Host:     Host{CPUs: 6, Memory: units.Size(8 * units.GiB)},
		Runtime:  runtime.Container,
		Swarm:    Swarm{DataNodeLabel: "djangostack.data"},
		Postgres: postgres.DefaultSettings(),
		Backup:   backup.DefaultSettings(),
		Redis:    redis.DefaultSettings(),
		Backend:  backend.DefaultSettings(),
		Nginx:    nginx.DefaultSettings(),
		Traefik:  traefik.DefaultSettings(),
		Edge:     edge.DefaultSettings(),
	}
}

// Staging mirrors production at about half its size: one backend replica,
// smaller limits with the tuning scaled to them, and data that may go with
// the stack. Clones of staging (any stack name this package does not know)
// start from it too.
func Staging() Profile {
	p := Base()
	p.KeepData = false
	// The zone's settings belong to production, which owns the zone.
	p.Edge.ManageZone = false
	// Staging runs the host's shared Traefik, which routes its clones too.
	p.Traefik.Ingress = traefik.IngressHost
	p.Host = Host{CPUs: 2, Memory: units.Size(4 * units.GiB)}

	p.Backend.Replicas = 1
	p.Backend.Workers = 2
	p.Backend.Resources = runtime.NewResources(1, 1024, 0.5, 512)

	p.Postgres.Resources = runtime.NewResources(1, 512, 0.5, 256)
	// Scaled with the 512 MiB limit: shared_buffers a quarter of it, the
	// planner told of no more memory than the container has.
	p.Postgres.Tuning.SharedBuffers = units.PostgresSize(128 * units.MiB)
	p.Postgres.Tuning.EffectiveCacheSize = units.PostgresSize(384 * units.MiB)
	p.Postgres.Tuning.MaxConnections = 100
	p.Postgres.Tuning.MaxParallelWorkers = 2

	p.Redis.Resources = runtime.NewResources(0.5, 384, 0.25, 256)

	// A daily dump, a week of them.
	p.Backup.Interval = units.Seconds(24 * 3600)
	p.Backup.Keep = 7
	p.Backup.MaxAge = units.Duration(14 * 24 * time.Hour)
	// The guide's two-thirds ratio of maxmemory to the container limit.
	p.Redis.Tuning.MaxMemory = units.RedisSize(256 * units.MiB)
	return p
}

// Local runs on a newcomer's own Docker: plain http on localhost:8080,
// published on the loopback interface only, one small replica, nothing
// protected, and unless backend.image is set, the reference backend of
// examples/backend built on the spot.
func Local() Profile {
	p := Staging()
	p.Domains = []string{"localhost"}
	p.TLS = false
	p.Traefik.HTTPPort = 8080
	p.Traefik.BindAddress = "127.0.0.1"
	p.Traefik.Ingress = traefik.IngressOwn
	p.Host.Docker = "unix:///var/run/docker.sock"
	p.Backup.Enabled = false
	p.Backend.Build = backend.ImageBuild{Context: "examples/backend", Dockerfile: "Dockerfile"}
	p.Backend.Resources = runtime.NewResources(1, 512, 0.25, 256)
	p.Postgres.Resources = runtime.NewResources(1, 512, 0.25, 128)
	p.Redis.Resources = runtime.NewResources(0.5, 256, 0.1, 64)
	p.Redis.Tuning.MaxMemory = units.RedisSize(160 * units.MiB)
	return p
}

// ForStack returns a fresh profile for a stack name: production is the
// guide as it stands (Base: two backend replicas, the guide's limits, data
// kept); staging and local have profiles of their own, and any other name
// is a clone of staging.
func ForStack(stack string) Profile {
	switch stack {
	case stackname.Production:
		return Base()
	case stackname.Local:
		return Local()
	case stackname.Staging:
		return Staging()
	}
	// A clone shares staging's host, and so staging's Traefik: two
	// Traefiks cannot both publish ports 80 and 443.
	p := Staging()
	p.Traefik.Ingress = traefik.IngressJoin
	// Its name is two levels under the zone (pr-42.staging.example.com),
	// which Cloudflare's Universal SSL certificate does not cover: its
	// record goes straight to the host, where Traefik has a certificate.
	p.Edge.Proxied = false
	return p
}

// Site is the profile's public face: its domains, its scheme, and the host
// port when it is not the scheme's default.
func (p Profile) Site() site.Site {
	site := site.Site{Domains: p.Domains, TLS: p.TLS, Port: p.Traefik.HTTPPort}
	if p.TLS {
		site.Port = p.Traefik.HTTPSPort
	}
	if (p.TLS && site.Port == 443) || (!p.TLS && site.Port == 80) {
		site.Port = 0
	}
	return site
}
