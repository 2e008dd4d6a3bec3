package components

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// BackendSettings are everything about the Django containers that is known
// before deployment. DefaultBackendSettings holds the guide's values; only
// Image has no default.
type BackendSettings struct {
	// Image is the Django application image (no default: the user's own).
	Image string `json:"image"`
	// Build builds the image from a Dockerfile on the machine running Pulumi
	// when Image is empty (local: the reference backend in examples/backend).
	Build ImageBuild `json:"build"`
	// Command replaces the image's command when set (default: the image's).
	Command []string `json:"command"`
	// Replicas is the number of backend containers (default 2).
	Replicas int `json:"replicas"`
	// Workers is the number of worker processes per container, handed over as
	// WEB_CONCURRENCY, which gunicorn reads (default 4). Each worker keeps
	// one persistent database connection.
	Workers int `json:"workers"`
	// Port the application listens on inside the container (default 8000).
	Port int `json:"port"`
	// HealthPath is probed by Docker and Traefik (default /api/).
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
	ContainerSettings
}

// Websocket is the backend's websocket server: Traefik routes the URLs
// under PathPrefix to Port of the same containers.
type Websocket struct {
	// PathPrefix of the websocket URLs (default /ws/).
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
	Interval Duration `json:"interval"`
	// Timeout of one probe (default 3s); Traefik needs it below Interval.
	Timeout Duration `json:"timeout"`
}

// Separate reports whether websockets have a server of their own.
func (w Websocket) Separate(httpPort int) bool { return w.Port != httpPort }

// Rollouts are a Swarm service's update and rollback.
type Rollouts struct {
	// Update replaces tasks one at a time, the new one first, and rolls back
	// when one fails (default parallelism 1, delay 10s, monitor 30s,
	// start-first, rollback).
	Update Rollout `json:"update"`
	// Rollback restores the previous spec the same way (default parallelism
	// 1, delay 0s, monitor 30s, start-first, pause).
	Rollback Rollout `json:"rollback"`
}

// ImageBuild is a local image build: no registry, no push.
type ImageBuild struct {
	// Context is the build context directory, relative to the project
	// (default none; local: examples/backend).
	Context string `json:"context"`
	// Dockerfile is the Dockerfile's path inside Context (default Dockerfile).
	Dockerfile string `json:"dockerfile"`
}

// DatabaseClient is the guide's DATABASES['default'] connection settings.
type DatabaseClient struct {
	// ConnMaxAge is CONN_MAX_AGE, whole seconds (default 600s).
	ConnMaxAge Duration `json:"connMaxAge"`
	// ConnectTimeout is libpq's connect_timeout, whole seconds (default 10s).
	ConnectTimeout Duration `json:"connectTimeout"`
	// StatementTimeout is Postgres's statement_timeout, milliseconds (default 30s).
	StatementTimeout Duration `json:"statementTimeout"`
	// KeepalivesIdle is libpq's keepalives_idle, whole seconds (default 30s).
	KeepalivesIdle Duration `json:"keepalivesIdle"`
	// KeepalivesInterval is libpq's keepalives_interval, whole seconds (default 10s).
	KeepalivesInterval Duration `json:"keepalivesInterval"`
	// KeepalivesCount is libpq's keepalives_count (default 5).
	KeepalivesCount int `json:"keepalivesCount"`
}

// CORS is the guide's django-cors-headers configuration.
type CORS struct {
	// AllowedOrigins is CORS_ALLOWED_ORIGINS (default: the site's own origins).
	AllowedOrigins []string `json:"allowedOrigins"`
	// AllowAllOrigins is CORS_ALLOW_ALL_ORIGINS (default false).
	AllowAllOrigins bool `json:"allowAllOrigins"`
	// PreflightMaxAge is CORS_PREFLIGHT_MAX_AGE, whole seconds (default 86400s).
	PreflightMaxAge Duration `json:"preflightMaxAge"`
}

// RedisClient is the guide's CHANNEL_LAYERS and CACHES configuration.
type RedisClient struct {
	// DB is the Redis database number (default 0).
	DB int `json:"db"`
	// ChannelCapacity is the channel layer's capacity, messages per channel (default 1000).
	ChannelCapacity int `json:"channelCapacity"`
	// ChannelExpiry is the channel layer's message expiry, whole seconds (default 60s).
	ChannelExpiry Duration `json:"channelExpiry"`
	// MaxConnections is the cache's connection-pool size (default 50).
	MaxConnections int `json:"maxConnections"`
	// UseCache turns on the Redis cache (default true).
	UseCache bool `json:"useCache"`
}

// DRF is the guide's REST_FRAMEWORK pagination and throttling.
type DRF struct {
	// PageSize is PAGE_SIZE (default 20).
	PageSize int `json:"pageSize"`
	// AnonRate is the anonymous throttle rate (default 1000/hour).
	AnonRate Rate `json:"anonRate"`
	// UserRate is the authenticated throttle rate (default 5000/hour).
	UserRate Rate `json:"userRate"`
}

// UploadLimits are the guide's request and upload memory limits.
type UploadLimits struct {
	// DataMaxMemorySize is DATA_UPLOAD_MAX_MEMORY_SIZE (default 10M).
	DataMaxMemorySize Size `json:"dataMaxMemorySize"`
	// DataMaxNumberFields is DATA_UPLOAD_MAX_NUMBER_FIELDS (default 1000).
	DataMaxNumberFields int `json:"dataMaxNumberFields"`
	// FileMaxMemorySize is FILE_UPLOAD_MAX_MEMORY_SIZE (default 10M).
	FileMaxMemorySize Size `json:"fileMaxMemorySize"`
}

// DefaultBackendSettings returns the guide's backend: two replicas, its
// environment contract's values, 2 CPUs / 2 GiB limits, a 1 CPU / 1 GiB
// reservation, a probe of /api/ every 30s.
func DefaultBackendSettings() BackendSettings {
	return BackendSettings{
		Replicas:   2,
		Workers:    4,
		Port:       8000,
		HealthPath: "/api/",
		Websocket:  Websocket{PathPrefix: "/ws/", Port: 8001},
		Probe:      Probe{Interval: Seconds(5), Timeout: Seconds(3)},
		Database: DatabaseClient{
			ConnMaxAge:         Seconds(600),
			ConnectTimeout:     Seconds(10),
			StatementTimeout:   Seconds(30),
			KeepalivesIdle:     Seconds(30),
			KeepalivesInterval: Seconds(10),
			KeepalivesCount:    5,
		},
		CORS:    CORS{PreflightMaxAge: Seconds(86400)},
		Redis:   RedisClient{DB: 0, ChannelCapacity: 1000, ChannelExpiry: Seconds(60), MaxConnections: 50, UseCache: true},
		DRF:     DRF{PageSize: 20, AnonRate: Rate{1000, "hour"}, UserRate: Rate{5000, "hour"}},
		Uploads: UploadLimits{DataMaxMemorySize: Size(10 * MiB), DataMaxNumberFields: 1000, FileMaxMemorySize: Size(10 * MiB)},
		Migrate: GuideMigrations(),
		Rollout: Rollouts{
			Update:   Rollout{Parallelism: 1, Delay: Seconds(10), Monitor: Seconds(30), Order: "start-first", FailureAction: "rollback"},
			Rollback: Rollout{Parallelism: 1, Monitor: Seconds(30), Order: "start-first", FailureAction: "pause"},
		},
		// 30s to stop: gunicorn's default graceful timeout.
		ContainerSettings: guideContainer(NewResources(2, 2048, 1, 1024),
			Healthcheck{Interval: Seconds(30), Timeout: Seconds(10), Retries: 3, StartPeriod: Seconds(60)},
			Seconds(30)),
	}
}

// Where the shared volumes are mounted, in the backend and in nginx alike.
const (
	StaticRoot = "/srv/static"
	MediaRoot  = "/srv/media"
)

// BackendEndpoints are what the backend connects to, as plain values.
type BackendEndpoints struct {
	Site         Site
	DatabaseHost string
	DatabasePort int
	DatabaseName string
	DatabaseUser string
	RedisHost    string
	RedisPort    int
}

// Environment variables of the contract whose values are secrets. They are
// set from generated passwords and never rendered by BackendEnv.
const (
	EnvDatabasePassword = "DB_PASSWORD"
	EnvRedisPassword    = "REDIS_PASSWORD"
	EnvSecretKey        = "SECRET_KEY"
)

// ContractSources say what sets each variable of the environment contract,
// as a config key to use instead or, for what no key sets, the program's
// own source: backend.env cannot replace any of them.
var ContractSources = map[string]string{
	"DB_HOST":                       "program:the stack's Postgres server",
	"DB_PORT":                       "program:Postgres's port, " + strconv.Itoa(PostgresPort),
	"DB_NAME":                       "postgres.database",
	"DB_USER":                       "postgres.user",
	"DB_CONN_MAX_AGE":               "backend.database.connMaxAge",
	"DB_CONNECT_TIMEOUT":            "backend.database.connectTimeout",
	"DB_STATEMENT_TIMEOUT":          "backend.database.statementTimeout",
	"DB_KEEPALIVES_IDLE":            "backend.database.keepalivesIdle",
	"DB_KEEPALIVES_INTERVAL":        "backend.database.keepalivesInterval",
	"DB_KEEPALIVES_COUNT":           "backend.database.keepalivesCount",
	"CORS_ALLOWED_ORIGINS":          "backend.cors.allowedOrigins",
	"CORS_ALLOW_ALL_ORIGINS":        "backend.cors.allowAllOrigins",
	"CORS_PREFLIGHT_MAX_AGE":        "backend.cors.preflightMaxAge",
	"REDIS_HOST":                    "program:the stack's Redis server",
	"REDIS_PORT":                    "program:Redis's port, " + strconv.Itoa(RedisPort),
	"REDIS_DB":                      "backend.redis.db",
	"REDIS_CHANNEL_CAPACITY":        "backend.redis.channelCapacity",
	"REDIS_CHANNEL_EXPIRY":          "backend.redis.channelExpiry",
	"REDIS_MAX_CONNECTIONS":         "backend.redis.maxConnections",
	"USE_REDIS_CACHE":               "backend.redis.useCache",
	"DRF_PAGE_SIZE":                 "backend.drf.pageSize",
	"DRF_ANON_RATE":                 "backend.drf.anonRate",
	"DRF_USER_RATE":                 "backend.drf.userRate",
	"DATA_UPLOAD_MAX_MEMORY_SIZE":   "backend.uploads.dataMaxMemorySize",
	"DATA_UPLOAD_MAX_NUMBER_FIELDS": "backend.uploads.dataMaxNumberFields",
	"FILE_UPLOAD_MAX_MEMORY_SIZE":   "backend.uploads.fileMaxMemorySize",
	"USE_TLS":                       "tls",
	"ALLOWED_HOSTS":                 "domains",
	"CSRF_TRUSTED_ORIGINS":          "domains",
	"WEB_CONCURRENCY":               "backend.workers",
	"STATIC_ROOT":                   "program:the static volume's mount, " + StaticRoot,
	"MEDIA_ROOT":                    "program:the media volume's mount, " + MediaRoot,
	"RUN_MIGRATIONS":                "backend.migrate.command",
	// The generated secrets, in either form the contract reads them.
	EnvDatabasePassword:           "secret:rotation.postgres",
	EnvDatabasePassword + "_FILE": "secret:rotation.postgres",
	EnvRedisPassword:              "secret:rotation.redis",
	EnvRedisPassword + "_FILE":    "secret:rotation.redis",
	EnvSecretKey:                  "secret:rotation.secretKey",
	EnvSecretKey + "_FILE":        "secret:rotation.secretKey",
}

// checkEnv reports a backend.env entry that names a variable of the
// contract: the program's value would win, so the entry would be dropped
// without a word. A secret's value is never echoed.
func checkEnv(ps *Problems, env map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		key := "env." + k
		if !envName.MatchString(k) {
			ps.Add(key, "%q is not an environment variable name", k)
			continue
		}
		source, taken := ContractSources[k]
		if !taken {
			continue
		}
		kind, what, _ := strings.Cut(source, ":")
		switch kind {
		case "secret":
			ps.Add(key, "cannot be set: %s is generated and kept secret in the stack's state (set %s to a new value to generate it anew); remove it from the config, which holds it in plain text", k, what)
		case "program":
			ps.Add(key, "%q cannot replace %s, which the program sets: %s", env[k], k, what)
		default:
			ps.Add(key, "%q cannot replace %s, a variable of the environment contract; set %s instead", env[k], k, source)
		}
	}
}

// CheckAppSecrets reports an app secret's name that cannot be handed over:
// not a variable name, a variable of the contract, or a variable backend.env
// sets already (the secret's name or its NAME_FILE). Keys are the names;
// no value is ever echoed.
func CheckAppSecrets(names []string, env map[string]string) Problems {
	var ps Problems
	for _, k := range slices.Sorted(slices.Values(names)) {
		source, taken := ContractSources[k]
		_, inEnv := env[k]
		_, fileInEnv := env[k+"_FILE"]
		switch {
		case !envName.MatchString(k):
			ps.Add(k, "%q is not an environment variable name", k)
		case taken && strings.HasPrefix(source, "secret:"):
			ps.Add(k, "is generated by the program and cannot be set")
		case taken:
			ps.Add(k, "is a variable of the environment contract, which the program sets")
		case inEnv:
			ps.Add(k, "is set in backend.env too, in plain text; keep it here only")
		case fileInEnv:
			ps.Add(k, "is handed over as the file %s, named by %s_FILE, which backend.env sets too", SecretFile(k), k)
		}
	}
	return ps
}

// BackendEnv renders the plain part of the backend's environment contract:
// the variables the guide's settings.py reads, with the profile's values.
func BackendEnv(s BackendSettings, e BackendEndpoints) map[string]string {
	d := s.Database
	env := map[string]string{
		"DB_HOST":                       e.DatabaseHost,
		"DB_PORT":                       strconv.Itoa(e.DatabasePort),
		"DB_NAME":                       e.DatabaseName,
		"DB_USER":                       e.DatabaseUser,
		"DB_CONN_MAX_AGE":               strconv.FormatInt(d.ConnMaxAge.Seconds(), 10),
		"DB_CONNECT_TIMEOUT":            strconv.FormatInt(d.ConnectTimeout.Seconds(), 10),
		"DB_STATEMENT_TIMEOUT":          strconv.FormatInt(d.StatementTimeout.Milliseconds(), 10),
		"DB_KEEPALIVES_IDLE":            strconv.FormatInt(d.KeepalivesIdle.Seconds(), 10),
		"DB_KEEPALIVES_INTERVAL":        strconv.FormatInt(d.KeepalivesInterval.Seconds(), 10),
		"DB_KEEPALIVES_COUNT":           strconv.Itoa(d.KeepalivesCount),
		"CORS_ALLOWED_ORIGINS":          strings.Join(s.CORS.AllowedOrigins, ","),
		"CORS_ALLOW_ALL_ORIGINS":        pythonBool(s.CORS.AllowAllOrigins),
		"CORS_PREFLIGHT_MAX_AGE":        strconv.FormatInt(s.CORS.PreflightMaxAge.Seconds(), 10),
		"REDIS_HOST":                    e.RedisHost,
		"REDIS_PORT":                    strconv.Itoa(e.RedisPort),
		"REDIS_DB":                      strconv.Itoa(s.Redis.DB),
		"REDIS_CHANNEL_CAPACITY":        strconv.Itoa(s.Redis.ChannelCapacity),
		"REDIS_CHANNEL_EXPIRY":          strconv.FormatInt(s.Redis.ChannelExpiry.Seconds(), 10),
		"REDIS_MAX_CONNECTIONS":         strconv.Itoa(s.Redis.MaxConnections),
		"USE_REDIS_CACHE":               pythonBool(s.Redis.UseCache),
		"DRF_PAGE_SIZE":                 strconv.Itoa(s.DRF.PageSize),
		"DRF_ANON_RATE":                 s.DRF.AnonRate.String(),
		"DRF_USER_RATE":                 s.DRF.UserRate.String(),
		"DATA_UPLOAD_MAX_MEMORY_SIZE":   strconv.FormatInt(s.Uploads.DataMaxMemorySize.Bytes(), 10),
		"DATA_UPLOAD_MAX_NUMBER_FIELDS": strconv.Itoa(s.Uploads.DataMaxNumberFields),
		"FILE_UPLOAD_MAX_MEMORY_SIZE":   strconv.FormatInt(s.Uploads.FileMaxMemorySize.Bytes(), 10),
		"USE_TLS":                       pythonBool(e.Site.TLS),
		"ALLOWED_HOSTS":                 strings.Join(e.Site.Domains, ","),
		"CSRF_TRUSTED_ORIGINS":          strings.Join(e.Site.Origins(), ","),
		"WEB_CONCURRENCY":               strconv.Itoa(s.Workers),
		"STATIC_ROOT":                   StaticRoot,
		"MEDIA_ROOT":                    MediaRoot,
		// The program runs the migrations itself, once, before the
		// containers of a new image start; an entrypoint must not race it.
		"RUN_MIGRATIONS": pythonBool(!s.Migrate.Enabled()),
	}
	for k, v := range s.Env {
		_, taken := env[k]
		if !taken && k != EnvDatabasePassword && k != EnvRedisPassword && k != EnvSecretKey {
			env[k] = v
		}
	}
	return env
}

// pythonBool spells a boolean the way the guide's env files do.
func pythonBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// HealthTest probes HealthPath from inside the container with the Python the
// image already has (a Django image often lacks curl), sending the site's
// host name and scheme so that ALLOWED_HOSTS and SECURE_SSL_REDIRECT treat it
// like a real request through Traefik.
func (s BackendSettings) HealthTest(site Site) []string {
	script := fmt.Sprintf(
		`import sys, urllib.request as u; r = u.urlopen(u.Request("http://127.0.0.1:%d%s", headers={"Host": %q, "X-Forwarded-Proto": %q}), timeout=%d); sys.exit(0 if r.status == 200 else 1)`,
		s.Port, s.HealthPath, site.Domains[0], site.Scheme(), max(1, s.Healthcheck.Timeout.Seconds()))
	return []string{"CMD", "python3", "-c", script}
}

// Routes are the backend's Traefik routes: every request for the site that
// no more specific router takes, to containers that pass the health probe,
// and the websocket URLs to the websocket server of the same containers
// when it has a port of its own.
func (s BackendSettings) Routes(name string, site Site) []Route {
	routes := []Route{s.httpRoute(name, site)}
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

func (s BackendSettings) httpRoute(name string, site Site) Route {
	return Route{
		Name:     name,
		Rule:     site.HostRule(),
		Priority: 1,
		Port:     s.Port,
		Retry:    true,
		Health: &RouteHealth{
			Path:     s.HealthPath,
			Interval: s.Probe.Interval,
			Timeout:  s.Probe.Timeout,
			Hostname: site.Domains[0],
			Headers:  map[string]string{"X-Forwarded-Proto": site.Scheme()},
		},
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check reports settings the backend cannot run with.
func (s BackendSettings) Check() Problems {
	var ps Problems
	switch {
	case s.Image != "":
		checkImage(&ps, "image", s.Image)
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
	checkPort(&ps, "port", s.Port)
	checkPort(&ps, "websocket.port", s.Websocket.Port)
	if !strings.HasPrefix(s.Websocket.PathPrefix, "/") || !strings.HasSuffix(s.Websocket.PathPrefix, "/") || strings.ContainsAny(s.Websocket.PathPrefix, " `\"'\\") {
		ps.Add("websocket.pathPrefix", "%q is not a URL path prefix (e.g. /ws/)", s.Websocket.PathPrefix)
	}
	if s.Probe.Interval < Duration(time.Second) {
		ps.Add("probe.interval", "%q must be at least 1s", s.Probe.Interval.String())
	}
	if s.Probe.Timeout < Duration(time.Millisecond) {
		ps.Add("probe.timeout", "%q must be at least 1ms", s.Probe.Timeout.String())
	} else if s.Probe.Timeout >= s.Probe.Interval && s.Probe.Interval >= Duration(time.Second) {
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
		if _, err := ParseOrigin(o); err != nil {
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
		size Size
	}{{"uploads.dataMaxMemorySize", s.Uploads.DataMaxMemorySize}, {"uploads.fileMaxMemorySize", s.Uploads.FileMaxMemorySize}} {
		if u.size >= limit {
			ps.AddComparing(u.key, []string{"resources.limits.memory"}, "%q does not fit in the container's %q memory limit: Django holds a request body or upload this large in memory, and the container is killed first",
				u.size.String(), limit.String())
		}
	}
	ps.Merge("migrate", s.Migrate.Check())
	ps.Merge("rollout.update", s.Rollout.Update.Check())
	ps.Merge("rollout.rollback", s.Rollout.Rollback.Check())
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// backendImage is the backend's image as each consumer needs it.
type backendImage struct {
	// ID is the image's id on the host Pulumi talks to (containers).
	ID pulumi.StringOutput
	// Digest is the repository digest every Swarm node can pull.
	Digest pulumi.StringOutput
	// Source is what the image was made from: the reference pulled, or
	// the build context and its digest.
	Source string
}

// resolveImage pulls the configured image, or builds one from the local
// Dockerfile when no image is configured.
func resolveImage(ctx *pulumi.Context, name string, s BackendSettings, args *BackendArgs, parent pulumi.ResourceOption) (backendImage, error) {
	if s.Image != "" {
		image, err := pullImage(ctx, name+"-image", s.Image, parent)
		if err != nil {
			return backendImage{}, err
		}
		return backendImage{ID: image.ImageId, Digest: image.RepoDigest, Source: s.Image}, nil
	}
	sum, err := ContextDigest(filepath.Join(args.Root, s.Build.Context))
	if err != nil {
		return backendImage{}, fmt.Errorf("backend: build context: %w", err)
	}
	dockerfile := s.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	built, err := docker.NewImage(ctx, name+"-build", &docker.ImageArgs{
		ImageName: pulumi.String(args.Naming.Name("backend") + ":local"),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.String(s.Build.Context),
			Dockerfile: pulumi.String(filepath.Join(s.Build.Context, dockerfile)),
		},
		SkipPush: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return backendImage{}, err
	}
	// For a local build RepoDigest is the image id, new with every rebuild;
	// it exists on this host only, which is why Swarm refuses a build.
	return backendImage{ID: built.RepoDigest, Digest: built.RepoDigest, Source: fmt.Sprintf("build %s@%s", s.Build.Context, sum)}, nil
}

// BackendArgs are the inputs of a Backend component.
type BackendArgs struct {
	// Settings of the backend; nil means DefaultBackendSettings(), which has
	// no image: give settings with one, or with a build.
	Settings *BackendSettings
	// Target is where the component deploys.
	Target
	// Site is what the backend serves.
	Site Site
	// Database is the Postgres component the backend uses.
	Database *Postgres
	// Redis is the Redis component the backend uses.
	Redis *Redis
	// DatabasePassword, RedisPassword and SecretKey are the generated secrets.
	DatabasePassword pulumi.StringInput
	RedisPassword    pulumi.StringInput
	SecretKey        pulumi.StringInput
	// EdgeNetwork (Traefik's) and DataNetwork (Postgres's and Redis's).
	EdgeNetwork pulumi.StringInput
	DataNetwork pulumi.StringInput
	// StaticVolume receives collectstatic's output; MediaVolume holds uploads.
	StaticVolume pulumi.StringInput
	MediaVolume  pulumi.StringInput
	// SharedVolumes is the driver that gives every Swarm node the same static
	// and media files (NFS and the like); empty keeps local volumes.
	SharedVolumes VolumeDriver
	// Root is the project directory, which a build context is relative to.
	Root string
	// AppSecrets are the app's own secret variables (a Sentry DSN, an API
	// key), NAME to value: handed over as files like the generated secrets,
	// NAME_FILE naming /run/secrets/<name>. Their names must pass
	// CheckAppSecrets.
	AppSecrets map[string]pulumi.StringInput
	// SecretsRevision names the revision of the secrets, the generated ones
	// and AppSecrets: a new revision rolls the backend like any other change.
	SecretsRevision string
}

// Backend is the set of Django containers behind Traefik.
type Backend struct {
	pulumi.ResourceState

	// Units are the containers, or the one Swarm service, that run it.
	Units []Deployed
	// Names are the containers' (or the service's) Docker names.
	Names []string
	// Spec describes one replica; Fingerprint, its digest, is in the names.
	Spec        Spec
	Fingerprint string
	// Migration is the logical name of the migration step ("" if none).
	Migration string
}

// NewBackend registers Replicas identical Django containers, named after
// the digest of their spec: a change of image, environment or limits makes
// new containers, created and healthy before the old ones are deleted at the
// end of the update, so a release drops no request. A new image first runs
// its migrations; its containers start only if they passed.
func NewBackend(ctx *pulumi.Context, name string, args *BackendArgs, opts ...pulumi.ResourceOption) (*Backend, error) {
	if args == nil || args.Database == nil || args.Redis == nil || args.DatabasePassword == nil ||
		args.RedisPassword == nil || args.SecretKey == nil || args.EdgeNetwork == nil || args.DataNetwork == nil ||
		args.StaticVolume == nil || args.MediaVolume == nil {
		return nil, errors.New("backend: args with database, redis, secrets, networks and volumes are required")
	}
	if len(args.Site.Domains) == 0 {
		return nil, errors.New("backend: the site needs at least one domain")
	}
	s, err := resolve("backend", args.Settings, DefaultBackendSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Backend{}
	if err := ctx.RegisterComponentResource(typePrefix+"Backend", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := resolveImage(ctx, name, s, args, parent)
	if err != nil {
		return nil, err
	}
	replica := Workload{
		Image:       image.ID,
		ImageSource: image.Source,
		Command:     s.Command,
		Env: BackendEnv(s, BackendEndpoints{
			Site:         args.Site,
			DatabaseHost: args.Database.Host,
			DatabasePort: args.Database.Port,
			DatabaseName: args.Database.Database,
			DatabaseUser: args.Database.User,
			RedisHost:    args.Redis.Host,
			RedisPort:    args.Redis.Port,
		}),
		SecretEnv: mergeMaps(args.AppSecrets, map[string]pulumi.StringInput{
			EnvDatabasePassword: args.DatabasePassword,
			EnvRedisPassword:    args.RedisPassword,
			EnvSecretKey:        args.SecretKey,
		}),
		SecretsRevision: args.SecretsRevision,
		Volumes: []VolumeMount{
			{Volume: args.StaticVolume, Target: StaticRoot, Driver: args.SharedVolumes},
			{Volume: args.MediaVolume, Target: MediaRoot, Driver: args.SharedVolumes},
		},
		Networks:    []pulumi.StringInput{args.EdgeNetwork, args.DataNetwork},
		Labels:      mergeMaps(args.Naming.ComponentLabels("backend"), routeLabels(s.Routes(args.Naming.Name("backend"), args.Site), args.Site)),
		HealthTest:  s.HealthTest(args.Site),
		Settings:    s.ContainerSettings,
		Replicas:    s.Replicas,
		Constraints: args.Constraints,
		Update:      &s.Rollout.Update,
		Rollback:    &s.Rollout.Rollback,
	}
	c.Spec = replica.Describe()
	c.Fingerprint = c.Spec.Fingerprint()

	// Nothing of the backend logs in before the database has the stack's
	// password.
	gate := func(image pulumi.StringOutput, after pulumi.StringOutput) pulumi.StringOutput {
		return pulumi.All(image, after).ApplyT(func(v []any) string { return v[0].(string) }).(pulumi.StringOutput)
	}
	release := image.ID
	if args.Runtime == RuntimeSwarm {
		release = image.Digest
	}
	release = gate(release, args.Database.PasswordSet)
	if s.Migrate.Enabled() {
		// The migration step is a container on the host Pulumi talks to,
		// on Swarm too: a service cannot report how a one-shot run ended.
		job := replica
		job.Image = gate(image.ID, args.Database.PasswordSet)
		job.Name = args.Naming.Name("migrate")
		job.Networks = []pulumi.StringInput{args.DataNetwork}
		job.Labels = args.Naming.ComponentLabels("migrate")
		migrations, err := runMigrations(ctx, name, s.Migrate, job, args.Database.Server, parent)
		if err != nil {
			return nil, err
		}
		c.Migration = migrations.Name
		// The image reaches the backend only once its migrations passed:
		// a failure stops the update before any new task exists.
		release = gate(release, migrations.Passed)
	}
	replica.Image = release
	after := pulumi.DependsOn([]pulumi.Resource{args.Database.Server, args.Redis.Server})

	if args.Runtime == RuntimeSwarm {
		// One replicated service: Swarm rolls it start-first and rolls back
		// on failure, across nodes.
		replica.Name = args.Naming.Name("backend")
		service, err := register(ctx, args.Runtime, name, replica, parent, after)
		if err != nil {
			return nil, err
		}
		c.Units, c.Names = []Deployed{service}, []string{replica.Name}
		return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"names": pulumi.ToStringArray(c.Names)})
	}
	// Each replica depends on the one before it. The engine deletes in the
	// reverse order of dependencies, so a release stops the old replicas
	// one after the other, each leaving Traefik's rotation before the next
	// begins: stopped at once, the first one's exit reloads Traefik's
	// configuration, which puts the second back in the rotation as it
	// closes its ports (measured: examples/backend/README.md, "Stopping
	// without dropping a request"). New replicas start one after the other
	// too, each waited healthy.
	previous := []pulumi.Resource{args.Database.Server, args.Redis.Server}
	for i := 1; i <= s.Replicas; i++ {
		w := replica
		w.Name = args.Naming.Name(fmt.Sprintf("backend-%s-%d", c.Fingerprint, i))
		container, err := register(ctx, args.Runtime, fmt.Sprintf("%s-%s-%d", name, c.Fingerprint, i), w, parent, pulumi.DependsOn(previous))
		if err != nil {
			return nil, err
		}
		previous = []pulumi.Resource{args.Database.Server, args.Redis.Server, container}
		c.Units = append(c.Units, container)
		c.Names = append(c.Names, w.Name)
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"names": pulumi.ToStringArray(c.Names)})
}
