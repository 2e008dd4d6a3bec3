package backend

import (
	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Where the shared volumes are mounted, in the backend and in nginx alike.
const (
	StaticRoot = "/srv/static"
	MediaRoot  = "/srv/media"
)

// BackendEndpoints are what the backend connects to, as plain values.
type Endpoints struct {
	Site         site.Site
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
	"DB_PORT":                       "program:Postgres's port, " + strconv.Itoa(postgres.Port),
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
	"REDIS_PORT":                    "program:Redis's port, " + strconv.Itoa(redis.Port),
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

// BackendEnv renders the plain part of the backend's environment contract:
// the variables the guide's settings.py reads, with the profile's values.
func Env(s Settings, e Endpoints) map[string]string {
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

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
