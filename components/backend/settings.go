package backend

import (
	"fmt"
	"strings"
	"time"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
)

// Settings are everything about the Django containers that is known
// before deployment. DefaultSettings holds the guide's values; only
// Image has no default.
type Settings struct {
	// Image is the Django application image (no default: the user's own).
	Image string `json:"image"`
	// Build builds the image from a Dockerfile on the machine running Pulumi
	// when Image is empty (local: the reference backend in examples/backend).
	Build ImageBuild `json:"build"`
	// Command replaces the image's command when set (default: the image's).
	Command []string `json:"command"`
	// Replicas is the number of backend containers.
	Replicas int `json:"replicas"`
	// Workers is the number of worker processes per container, handed over as
	// WEB_CONCURRENCY, which gunicorn reads. Each worker keeps one persistent
	// database connection.
	Workers int `json:"workers"`
	// Port the application listens on inside the container.
	Port int `json:"port"`
	// HealthPath is probed by Docker and Traefik.
	HealthPath string `json:"healthPath"`
	// Websocket is where the containers serve websockets.
	Websocket Websocket `json:"websocket"`
	// Probe is Traefik's health probe of each container, which takes a
	// container that fails it out of the load balancer (Docker's own
	// healthcheck is Healthcheck).
	Probe Probe `json:"probe"`
	// Database is how Django connects to Postgres.
	Database DatabaseClient `json:"database"`
	// CORS is django-cors-headers' configuration.
	CORS CORS `json:"cors"`
	// Redis is how Django uses Redis for its cache and channel layer.
	Redis RedisClient `json:"redis"`
	// DRF is Django REST framework's pagination and throttling.
	DRF DRF `json:"drf"`
	// Uploads are Django's request-size limits.
	Uploads UploadLimits `json:"uploads"`
	// Env are further plain environment variables; they cannot replace a
	// variable of the contract.
	Env map[string]string `json:"env"`
	// Migrate is the migration step run before a new image's containers start.
	Migrate Migrations `json:"migrate"`
	// Rollout is how Swarm replaces the backend's tasks (swarm only).
	Rollout Rollouts `json:"rollout"`
	// Roles are the image's other processes, by name: workers, schedulers
	// (default none). Each entry starts from DefaultRole.
	Roles map[string]Role `json:"roles"`
	// Privileges are the exceptions to the lockdown every container gets
	// (docs/architecture.md, "Hardening"), for the backend, its roles and
	// its migrations. The defaults fit the reference image: its entrypoint
	// starts as root, hands the shared volumes to its user and drops to it
	// (CHOWN, SETUID, SETGID), and Django writes its log files under
	// /app/logs. An image that starts as its own user needs none.
	Privileges runtime.Privileges `json:"privileges"`
	runtime.ContainerSettings
}

// Websocket is the backend's websocket server: Traefik routes the URLs
// under PathPrefix to Port of the same containers.
type Websocket struct {
	// PathPrefix of the websocket URLs.
	PathPrefix string `json:"pathPrefix"`
	// Port the websocket server listens on inside the container (default
	// 8001: the reference backend serves HTTP with a WSGI server on Port and
	// websockets with an ASGI server here). Set it to the backend's port when
	// one server answers both.
	Port int `json:"port"`
}

// Probe is a load balancer's health probe.
//
// The guide probes every 30s with a 10s timeout. The default is every 5s
// with a 3s timeout, because the probe is also how a release takes an old
// container out of Traefik's rotation before it stops: the old container
// answers the probe 503 while it still serves everything else (its lame
// duck, at most 10 s in the reference backend), and stops once the probe
// has seen that. Traefik's Docker provider otherwise drops a container only
// when it has exited, with requests still on their way to it. A probe every
// 30s would come within a 10 s lame duck one time in three; measured, that
// dropped requests at each release (examples/backend/README.md, "Stopping
// without dropping a request"). A probe of /api/ costs one query and a
// Redis PING.
type Probe struct {
	// Interval between probes of each container (default 5s; the guide's
	// 30s). Keep it below the backend's lame duck.
	Interval units.Duration `json:"interval"`
	// Timeout of one probe; Traefik needs it below Interval.
	Timeout units.Duration `json:"timeout"`
}

// Separate reports whether websockets have a server of their own.
func (w Websocket) Separate(httpPort int) bool { return w.Port != httpPort }

// Rollouts are a Swarm service's update and rollback.
type Rollouts struct {
	// Update replaces tasks one at a time, the new one first, and rolls back
	// when one fails.
	Update runtime.Rollout `json:"update"`
	// Rollback restores the previous spec the same way.
	Rollback runtime.Rollout `json:"rollback"`
}

// ImageBuild is a local image build: no registry, no push.
type ImageBuild struct {
	// Context is the build context directory, relative to the project
	// (default none; local: examples/backend).
	Context string `json:"context"`
	// Dockerfile is the Dockerfile's path inside Context.
	Dockerfile string `json:"dockerfile"`
}

// DatabaseClient is the guide's DATABASES['default'] connection settings.
type DatabaseClient struct {
	// ConnMaxAge is CONN_MAX_AGE, whole seconds.
	ConnMaxAge units.Duration `json:"connMaxAge"`
	// ConnectTimeout is libpq's connect_timeout, whole seconds.
	ConnectTimeout units.Duration `json:"connectTimeout"`
	// StatementTimeout is Postgres's statement_timeout, milliseconds.
	StatementTimeout units.Duration `json:"statementTimeout"`
	// KeepalivesIdle is libpq's keepalives_idle, whole seconds.
	KeepalivesIdle units.Duration `json:"keepalivesIdle"`
	// KeepalivesInterval is libpq's keepalives_interval, whole seconds.
	KeepalivesInterval units.Duration `json:"keepalivesInterval"`
	// KeepalivesCount is libpq's keepalives_count.
	KeepalivesCount int `json:"keepalivesCount"`
}

// CORS is the guide's django-cors-headers configuration.
type CORS struct {
	// AllowedOrigins is CORS_ALLOWED_ORIGINS (default: the site's own origins).
	AllowedOrigins []string `json:"allowedOrigins"`
	// AllowAllOrigins is CORS_ALLOW_ALL_ORIGINS.
	AllowAllOrigins bool `json:"allowAllOrigins"`
	// PreflightMaxAge is CORS_PREFLIGHT_MAX_AGE, whole seconds.
	PreflightMaxAge units.Duration `json:"preflightMaxAge"`
}

// RedisClient is the guide's CHANNEL_LAYERS and CACHES configuration.
type RedisClient struct {
	// DB is the Redis database number.
	DB int `json:"db"`
	// ChannelCapacity is the channel layer's capacity, messages per channel.
	ChannelCapacity int `json:"channelCapacity"`
	// ChannelExpiry is the channel layer's message expiry, whole seconds.
	ChannelExpiry units.Duration `json:"channelExpiry"`
	// MaxConnections is the cache's connection-pool size.
	MaxConnections int `json:"maxConnections"`
	// UseCache turns on the Redis cache.
	UseCache bool `json:"useCache"`
}

// DRF is the guide's REST_FRAMEWORK pagination and throttling.
type DRF struct {
	// PageSize is PAGE_SIZE.
	PageSize int `json:"pageSize"`
	// AnonRate is the anonymous throttle rate.
	AnonRate units.Rate `json:"anonRate"`
	// UserRate is the authenticated throttle rate.
	UserRate units.Rate `json:"userRate"`
}

// UploadLimits are the guide's request and upload memory limits.
type UploadLimits struct {
	// DataMaxMemorySize is DATA_UPLOAD_MAX_MEMORY_SIZE.
	DataMaxMemorySize units.Size `json:"dataMaxMemorySize"`
	// DataMaxNumberFields is DATA_UPLOAD_MAX_NUMBER_FIELDS.
	DataMaxNumberFields int `json:"dataMaxNumberFields"`
	// FileMaxMemorySize is FILE_UPLOAD_MAX_MEMORY_SIZE.
	FileMaxMemorySize units.Size `json:"fileMaxMemorySize"`
}

// DefaultSettings returns the guide's backend: two replicas, its
// environment contract's values, 2 CPUs / 2 GiB limits, a 1 CPU / 1 GiB
// reservation, a probe of /api/ every 30s.
func DefaultSettings() Settings {
	return Settings{
		Replicas:   2,
		Workers:    4,
		Port:       8000,
		HealthPath: "/api/",
		Websocket:  Websocket{PathPrefix: "/ws/", Port: 8001},
		Probe:      Probe{Interval: units.Seconds(5), Timeout: units.Seconds(3)},
		Database: DatabaseClient{
			ConnMaxAge:         units.Seconds(600),
			ConnectTimeout:     units.Seconds(10),
			StatementTimeout:   units.Seconds(30),
			KeepalivesIdle:     units.Seconds(30),
			KeepalivesInterval: units.Seconds(10),
			KeepalivesCount:    5,
		},
		CORS:       CORS{PreflightMaxAge: units.Seconds(86400)},
		Redis:      RedisClient{DB: 0, ChannelCapacity: 1000, ChannelExpiry: units.Seconds(60), MaxConnections: 50, UseCache: true},
		DRF:        DRF{PageSize: 20, AnonRate: units.Rate{Count: 1000, Period: "hour"}, UserRate: units.Rate{Count: 5000, Period: "hour"}},
		Uploads:    UploadLimits{DataMaxMemorySize: units.Size(10 * units.MiB), DataMaxNumberFields: 1000, FileMaxMemorySize: units.Size(10 * units.MiB)},
		Migrate:    GuideMigrations(),
		Privileges: runtime.Privileges{Capabilities: []string{"CHOWN", "SETUID", "SETGID"}, Writable: []string{"/app/logs"}},
		Rollout: Rollouts{
			Update:   runtime.Rollout{Parallelism: 1, Delay: units.Seconds(10), Monitor: units.Seconds(30), Order: "start-first", FailureAction: "rollback"},
			Rollback: runtime.Rollout{Parallelism: 1, Monitor: units.Seconds(30), Order: "start-first", FailureAction: "pause"},
		},
		// 30s to stop: gunicorn's default graceful timeout.
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(2, 2048, 1, 1024),
			runtime.Healthcheck{Interval: units.Seconds(30), Timeout: units.Seconds(10), Retries: 3, StartPeriod: units.Seconds(60)},
			units.Seconds(30)),
	}
}

// HealthTest probes HealthPath from inside the container with the Python the
// image already has (a Django image often lacks curl), sending the site's
// host name and scheme so that ALLOWED_HOSTS and SECURE_SSL_REDIRECT treat it
// like a real request through Traefik.
func (s Settings) HealthTest(site site.Site) []string {
	script := fmt.Sprintf(
		`import sys, urllib.request as u; r = u.urlopen(u.Request("http://127.0.0.1:%d%s", headers={"Host": %q, "X-Forwarded-Proto": %q}), timeout=%d); sys.exit(0 if r.status == 200 else 1)`,
		s.Port, s.HealthPath, site.Domains[0], site.Scheme(), max(1, s.Healthcheck.Timeout.Seconds()))
	return []string{"CMD", "python3", "-c", script}
}

// Routes are the backend's Traefik routes: every request for the site that
// no more specific router takes, to containers that pass the health probe,
// and the websocket URLs to the websocket server of the same containers
// when it has a port of its own.
func (s Settings) Routes(name string, site site.Site) []traefik.Route {
	routes := []traefik.Route{s.httpRoute(name, site)}
	if s.Websocket.Separate(s.Port) {
		ws := s.httpRoute(name+"-ws", site)
		ws.Rule = fmt.Sprintf("(%s) && PathPrefix(`%s`)", site.HostRule(), s.Websocket.PathPrefix)
		// Above the catch-all, below nginx's files.
		ws.Priority = 50
		ws.Port = s.Websocket.Port
		// A websocket upgrade is not retried: it is a long-lived stream.
		ws.Retry = false
		ws.Health.Port = s.Port
		routes = append(routes, ws)
	}
	return routes
}

func (s Settings) httpRoute(name string, site site.Site) traefik.Route {
	return traefik.Route{
		Name:     name,
		Rule:     site.HostRule(),
		Priority: 1,
		Port:     s.Port,
		Retry:    true,
		Health: &traefik.RouteHealth{
			Path:     s.HealthPath,
			Interval: s.Probe.Interval,
			Timeout:  s.Probe.Timeout,
			Hostname: site.Domains[0],
			Headers:  map[string]string{"X-Forwarded-Proto": site.Scheme()},
		},
	}
}

// Check reports settings the backend cannot run with.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	switch {
	case s.Image != "":
		units.CheckImage(&ps, "image", s.Image)
	case s.Build.Context == "":
		ps.Add("image", "must be set to your Django image (e.g. registry.example.com/app:1.4.2), or build.context to a directory with its Dockerfile")
	}
	if strings.ContainsAny(s.Build.Context+s.Build.Dockerfile, "\n\x00") {
		ps.Add("build", "paths must be plain file paths")
	}
	if s.Replicas < 1 {
		ps.Add("replicas", "%d must be at least 1", s.Replicas)
	}
	if s.Workers < 1 {
		ps.Add("workers", "%d must be at least 1", s.Workers)
	}
	units.CheckPort(&ps, "port", s.Port)
	units.CheckPort(&ps, "websocket.port", s.Websocket.Port)
	if !strings.HasPrefix(s.Websocket.PathPrefix, "/") || !strings.HasSuffix(s.Websocket.PathPrefix, "/") || strings.ContainsAny(s.Websocket.PathPrefix, " `\"'\\") {
		ps.Add("websocket.pathPrefix", "%q is not a URL path prefix (e.g. /ws/)", s.Websocket.PathPrefix)
	}
	if s.Probe.Interval < units.Duration(time.Second) {
		ps.Add("probe.interval", "%q must be at least 1s", s.Probe.Interval.String())
	}
	if s.Probe.Timeout < units.Duration(time.Millisecond) {
		ps.Add("probe.timeout", "%q must be at least 1ms", s.Probe.Timeout.String())
	} else if s.Probe.Timeout >= s.Probe.Interval && s.Probe.Interval >= units.Duration(time.Second) {
		// Traefik would stretch the interval to the timeout plus a second.
		ps.AddComparing("probe.timeout", []string{"probe.interval"}, "%q is not below the interval %q; Traefik needs the timeout under the interval",
			s.Probe.Timeout.String(), s.Probe.Interval.String())
	}
	if !strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \"'\\") {
		ps.Add("healthPath", "%q is not a URL path (e.g. /api/)", s.HealthPath)
	}
	if s.Database.KeepalivesCount < 1 {
		ps.Add("database.keepalivesCount", "%d must be at least 1", s.Database.KeepalivesCount)
	}
	if s.Redis.DB < 0 || s.Redis.DB > 15 {
		ps.Add("redis.db", "%d is not a Redis database number (0-15)", s.Redis.DB)
	}
	for _, n := range []struct {
		key   string
		value int
	}{
		{"redis.channelCapacity", s.Redis.ChannelCapacity},
		{"redis.maxConnections", s.Redis.MaxConnections},
		{"drf.pageSize", s.DRF.PageSize},
		{"uploads.dataMaxNumberFields", s.Uploads.DataMaxNumberFields},
	} {
		if n.value < 1 {
			ps.Add(n.key, "%d must be at least 1", n.value)
		}
	}
	for i, o := range s.CORS.AllowedOrigins {
		if _, err := units.ParseOrigin(o); err != nil {
			ps.Add(fmt.Sprintf("cors.allowedOrigins[%d]", i), "%v", err)
		}
	}
	if s.CORS.PreflightMaxAge < 0 {
		ps.Add("cors.preflightMaxAge", "%q must not be negative", s.CORS.PreflightMaxAge.String())
	}
	checkEnv(&ps, s.Env)
	limit := s.Resources.Limits.Memory
	for _, u := range []struct {
		key  string
		size units.Size
	}{{"uploads.dataMaxMemorySize", s.Uploads.DataMaxMemorySize}, {"uploads.fileMaxMemorySize", s.Uploads.FileMaxMemorySize}} {
		if u.size >= limit {
			ps.AddComparing(u.key, []string{"resources.limits.memory"}, "%q does not fit in the container's %q memory limit: Django holds a request body or upload this large in memory, and the container is killed first",
				u.size.String(), limit.String())
		}
	}
	ps.Merge("migrate", s.Migrate.Check())
	ps.Merge("privileges", s.Privileges.Check())
	ps = append(ps, checkRoles(s.Roles)...)
	ps.Merge("rollout.update", s.Rollout.Update.Check())
	ps.Merge("rollout.rollback", s.Rollout.Rollback.Check())
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}
