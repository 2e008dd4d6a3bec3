package backend

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
)

// Where the shared volumes are mounted, in the backend and in nginx alike.
const (
	StaticRoot = "/srv/static"
	MediaRoot  = "/srv/media"
)

// Endpoints are what the backend connects to, as plain values.
type Endpoints struct {
	Site         site.Site
	DatabaseHost string
	DatabasePort int
	DatabaseName string
	DatabaseUser string
	RedisHost    string
	RedisPort    int
	// Proxy is what stands in front of the backend.
	Proxy Proxy
}

// Proxy is what stands in front of the backend: whose X-Forwarded-For it
// believes, and the HSTS policy the site sends.
type Proxy struct {
	// Hosts are the Docker names (or addresses) of the proxies that
	// forward requests to the backend: the Traefik that routes the stack.
	// The backend believes the X-Forwarded-For of requests from these
	// addresses only. Empty believes no one.
	Hosts []string
	// Hops is how many proxies add the address they saw to X-Forwarded-For
	// (default 1, Traefik; 2 when Cloudflare proxies the site, then
	// Traefik): the client is the Hops-th address from the end.
	Hops int
	// HSTS is the site's Strict-Transport-Security policy, Traefik's
	// (traefik.securityHeaders.hsts), which Django then sends too.
	HSTS traefik.HSTS
}

// Environment variables of the contract whose values are secrets. They are
// set from generated passwords and never rendered by Env.
const (
	EnvDatabasePassword = "DB_PASSWORD"
	EnvRedisPassword    = "REDIS_PASSWORD"
	EnvSecretKey        = "SECRET_KEY"
)

// variable is one variable of the environment contract: its name, what
// sets it, and its value. Source is the config key to set instead, or
// "program:" and what the program sets it from, or "secret:" and the
// rotation key of a generated secret. Value renders it; secrets have none,
// as they reach the container as files.
type variable struct {
	name, source string
	value        func(s Settings, e Endpoints) string
}

func seconds(d units.Duration) string { return strconv.FormatInt(d.Seconds(), 10) }

// contract is the backend's environment contract, in one table: the
// variables the guide's settings.py reads (docs/backend-contract.md).
var contract = []variable{
	{"DB_HOST", "program:the stack's Postgres server", func(_ Settings, e Endpoints) string { return e.DatabaseHost }},
	{"DB_PORT", "program:Postgres's port, " + strconv.Itoa(postgres.Port), func(_ Settings, e Endpoints) string { return strconv.Itoa(e.DatabasePort) }},
	{"DB_NAME", "postgres.database", func(_ Settings, e Endpoints) string { return e.DatabaseName }},
	{"DB_USER", "postgres.user", func(_ Settings, e Endpoints) string { return e.DatabaseUser }},
	{"DB_CONN_MAX_AGE", "backend.database.connMaxAge", func(s Settings, _ Endpoints) string { return seconds(s.Database.ConnMaxAge) }},
	{"DB_CONNECT_TIMEOUT", "backend.database.connectTimeout", func(s Settings, _ Endpoints) string { return seconds(s.Database.ConnectTimeout) }},
	{"DB_STATEMENT_TIMEOUT", "backend.database.statementTimeout", func(s Settings, _ Endpoints) string {
		return strconv.FormatInt(s.Database.StatementTimeout.Milliseconds(), 10)
	}},
	{"DB_KEEPALIVES_IDLE", "backend.database.keepalivesIdle", func(s Settings, _ Endpoints) string { return seconds(s.Database.KeepalivesIdle) }},
	{"DB_KEEPALIVES_INTERVAL", "backend.database.keepalivesInterval", func(s Settings, _ Endpoints) string { return seconds(s.Database.KeepalivesInterval) }},
	{"DB_KEEPALIVES_COUNT", "backend.database.keepalivesCount", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Database.KeepalivesCount) }},
	{"CORS_ALLOWED_ORIGINS", "backend.cors.allowedOrigins", func(s Settings, _ Endpoints) string { return strings.Join(s.CORS.AllowedOrigins, ",") }},
	{"CORS_ALLOW_ALL_ORIGINS", "backend.cors.allowAllOrigins", func(s Settings, _ Endpoints) string { return units.PythonBool(s.CORS.AllowAllOrigins) }},
	{"CORS_PREFLIGHT_MAX_AGE", "backend.cors.preflightMaxAge", func(s Settings, _ Endpoints) string { return seconds(s.CORS.PreflightMaxAge) }},
	{"REDIS_HOST", "program:the stack's Redis server", func(_ Settings, e Endpoints) string { return e.RedisHost }},
	{"REDIS_PORT", "program:Redis's port, " + strconv.Itoa(redis.Port), func(_ Settings, e Endpoints) string { return strconv.Itoa(e.RedisPort) }},
	{"REDIS_DB", "backend.redis.db", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Redis.DB) }},
	{"REDIS_CHANNEL_CAPACITY", "backend.redis.channelCapacity", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Redis.ChannelCapacity) }},
	{"REDIS_CHANNEL_EXPIRY", "backend.redis.channelExpiry", func(s Settings, _ Endpoints) string { return seconds(s.Redis.ChannelExpiry) }},
	{"REDIS_MAX_CONNECTIONS", "backend.redis.maxConnections", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Redis.MaxConnections) }},
	{"USE_REDIS_CACHE", "backend.redis.useCache", func(s Settings, _ Endpoints) string { return units.PythonBool(s.Redis.UseCache) }},
	{"DRF_PAGE_SIZE", "backend.drf.pageSize", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.DRF.PageSize) }},
	{"DRF_ANON_RATE", "backend.drf.anonRate", func(s Settings, _ Endpoints) string { return s.DRF.AnonRate.String() }},
	{"DRF_USER_RATE", "backend.drf.userRate", func(s Settings, _ Endpoints) string { return s.DRF.UserRate.String() }},
	{"DATA_UPLOAD_MAX_MEMORY_SIZE", "backend.uploads.dataMaxMemorySize", func(s Settings, _ Endpoints) string {
		return strconv.FormatInt(s.Uploads.DataMaxMemorySize.Bytes(), 10)
	}},
	{"DATA_UPLOAD_MAX_NUMBER_FIELDS", "backend.uploads.dataMaxNumberFields", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Uploads.DataMaxNumberFields) }},
	{"FILE_UPLOAD_MAX_MEMORY_SIZE", "backend.uploads.fileMaxMemorySize", func(s Settings, _ Endpoints) string {
		return strconv.FormatInt(s.Uploads.FileMaxMemorySize.Bytes(), 10)
	}},
	{"USE_TLS", "tls", func(_ Settings, e Endpoints) string { return units.PythonBool(e.Site.TLS) }},
	{"HSTS_SECONDS", "traefik.securityHeaders.hsts.maxAge", func(_ Settings, e Endpoints) string { return seconds(e.Proxy.HSTS.MaxAge) }},
	{"HSTS_INCLUDE_SUBDOMAINS", "traefik.securityHeaders.hsts.includeSubdomains", func(_ Settings, e Endpoints) string {
		return units.PythonBool(e.Proxy.HSTS.IncludeSubdomains)
	}},
	{"HSTS_PRELOAD", "traefik.securityHeaders.hsts.preload", func(_ Settings, e Endpoints) string { return units.PythonBool(e.Proxy.HSTS.Preload) }},
	{"TRUSTED_PROXIES", "program:the Traefik that routes the stack", func(_ Settings, e Endpoints) string { return strings.Join(e.Proxy.Hosts, ",") }},
	{"TRUSTED_PROXY_HOPS", "program:2 when edge.proxied puts Cloudflare in front of Traefik, else 1", func(_ Settings, e Endpoints) string {
		return strconv.Itoa(max(e.Proxy.Hops, 1))
	}},
	{"ALLOWED_HOSTS", "domains", func(_ Settings, e Endpoints) string { return strings.Join(e.Site.Domains, ",") }},
	{"CSRF_TRUSTED_ORIGINS", "domains", func(_ Settings, e Endpoints) string { return strings.Join(e.Site.Origins(), ",") }},
	{"WEB_CONCURRENCY", "backend.workers", func(s Settings, _ Endpoints) string { return strconv.Itoa(s.Workers) }},
	{"STATIC_ROOT", "program:the static volume's mount, " + StaticRoot, func(Settings, Endpoints) string { return StaticRoot }},
	{"MEDIA_ROOT", "program:the media volume's mount, " + MediaRoot, func(Settings, Endpoints) string { return MediaRoot }},
	// The program runs the migrations itself, once, before the containers
	// of a new image start; an entrypoint must not race it.
	{"RUN_MIGRATIONS", "backend.migrate.command", func(s Settings, _ Endpoints) string { return units.PythonBool(!s.Migrate.Enabled()) }},
	// The generated secrets, in either form the contract reads them.
	{EnvDatabasePassword, "secret:rotation.postgres", nil},
	{EnvDatabasePassword + "_FILE", "secret:rotation.postgres", nil},
	{EnvRedisPassword, "secret:rotation.redis", nil},
	{EnvRedisPassword + "_FILE", "secret:rotation.redis", nil},
	{EnvSecretKey, "secret:rotation.secretKey", nil},
	{EnvSecretKey + "_FILE", "secret:rotation.secretKey", nil},
}

// ContractSources say what sets each variable of the environment contract
// (variable.source): backend.env cannot replace any of them.
var ContractSources = func() map[string]string {
	out := make(map[string]string, len(contract))
	for _, v := range contract {
		out[v.name] = v.source
	}
	return out
}()

// checkEnv reports a backend.env entry that names a variable of the
// contract: the program's value would win, so the entry would be dropped
// without a word. A secret's value is never echoed.
func checkEnv(ps *problems.Problems, env map[string]string) {
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
func CheckAppSecrets(names []string, env map[string]string) problems.Problems {
	var ps problems.Problems
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
			ps.Add(k, "is handed over as the file %s, named by %s_FILE, which backend.env sets too", runtime.SecretFile(k), k)
		}
	}
	return ps
}

// Env renders the plain part of the backend's environment contract: the
// variables the guide's settings.py reads, with the profile's values, then
// backend.env's own variables.
func Env(s Settings, e Endpoints) map[string]string {
	env := map[string]string{}
	for _, v := range contract {
		if v.value != nil {
			env[v.name] = v.value(s, e)
		}
	}
	for k, v := range s.Env {
		if _, taken := ContractSources[k]; !taken {
			env[k] = v
		}
	}
	return env
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
