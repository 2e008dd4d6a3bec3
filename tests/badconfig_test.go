package tests

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/djangostack/infra/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// badConfig is one configuration a careless or hostile user could write,
// and what the program must say about it.
type badConfig struct {
	name string
	// stacks it applies to; nil is production, staging, local and a clone.
	stacks []string
	// set are keys set the way `pulumi config set --path` sets them; a key
	// with a colon is a full key of another namespace.
	set map[string]any
	// raw are top-level keys set as they are, dots and all (no --path).
	raw map[string]any
	// edge adds a Cloudflare zone and its token.
	edge bool
	// key is where the problem is reported, want what its line says.
	key, want string
	// value is what the user wrote, which the line must quote; when empty,
	// the one scalar of set.
	value string
	// count, when set, is the number of problems: no follow-ons.
	count int
	// absent must not be in the message: a secret, a follow-on.
	absent string
	// unwise values are errors in production only, warnings elsewhere.
	unwise bool
}

var everyStack = []string{"production", "staging", "local", "pr-42"}

// publicStacks have TLS on; servedStacks run a Traefik of their own or the host's.
var (
	publicStacks = []string{"production", "staging", "pr-42"}
	servedStacks = []string{"production", "staging"}
	backedUp     = []string{"production", "staging", "pr-42"}
)

// baseConfig is the config a stack deploys with in the tests: its fixture
// (a clone copies staging's).
func baseConfig(t *testing.T, stack string) map[string]any {
	switch stack {
	case "production", "staging":
		return fixtureConfig(t, stack)
	case "local":
		return localConfig(t)
	}
	return fixtureConfig(t, "staging")
}

var badConfigs = []badConfig{
	// Keys the program does not read.
	{name: "misspelt top-level key", raw: map[string]any{"postgress": map[string]any{"tuning": map[string]any{"workMem": "8MB"}}},
		key: "postgress", want: `is not a setting; did you mean "postgres"?`, value: "postgress"},
	{name: "key in the wrong case", raw: map[string]any{"keepdata": true},
		key: "keepdata", want: `is not a setting; did you mean "keepData"?`, value: "keepdata"},
	{name: "singular of a list key", raw: map[string]any{"domain": "example.com"},
		key: "domain", want: `did you mean "domains"?`, value: "domain", count: 1},
	{name: "secret key misspelt", raw: map[string]any{"registryPasword": "x"},
		key: "registryPasword", want: `did you mean "registryPassword"?`, value: "registryPasword"},
	{name: "nested key set without --path", raw: map[string]any{"postgres.tuning.workMem": "8MB"},
		key: "postgres.tuning.workMem", want: `is not a top-level setting: a key inside postgres is set with --path (pulumi config set --path 'postgres.tuning.workMem' 8MB)`, value: "8MB"},
	{name: "list element set without --path", raw: map[string]any{"domains[0]": "example.com"},
		key: "domains[0]", want: `is not a top-level setting: a key inside domains`, value: "example.com"},
	{name: "unknown key of no likeness", raw: map[string]any{"colour": "blue"},
		key: "colour", want: `is not a setting (known keys: `, value: "colour"},

	// A setting set with --secret: the program would read it in plain
	// text, so it is refused at its key, and its value is never echoed.
	{name: "a secret in the backend's env", set: map[string]any{"backend.env.STRIPE_KEY": secret("sk_live_51Hq9")},
		key: "backend", want: `holds a value set with --secret, and the program reads backend as settings, in plain text`, absent: "sk_live_51Hq9", count: 1},
	{name: "a secret tuning value", set: map[string]any{"postgres.tuning.workMem": secret("16MB")},
		key: "postgres", want: `an app secret goes in backendSecrets, which reaches the backend as a file`, absent: "16MB", count: 1},
	{name: "a secret top-level setting", raw: map[string]any{"allowDataVolumeReplacement": secret("tru3-s3cret")},
		key: "allowDataVolumeReplacement", want: `holds a value set with --secret`, absent: "tru3-s3cret", count: 1},
	{name: "an app secret set without --path", raw: map[string]any{"backendSecrets.SENTRY_DSN": secret("https://k3y@sentry.example.com/1")},
		key: "backendSecrets.SENTRY_DSN", want: `is not a top-level setting: a key inside backendSecrets is set with --path (pulumi config set --secret --path 'backendSecrets.SENTRY_DSN' <value>)`,
		absent: "k3y@sentry"},

	// An extra setting that would undo a typed one, or what the program relies on.
	{name: "postgres extra shared_buffers", set: map[string]any{"postgres.tuning.extra.shared_buffers": "512MB"},
		key: "postgres.tuning.extra.shared_buffers", want: `would override tuning.sharedBuffers (shared_buffers `},
	{name: "postgres extra work_mem", set: map[string]any{"postgres.tuning.extra.work_mem": "1GB"},
		key: "postgres.tuning.extra.work_mem", want: `would override tuning.workMem`},
	{name: "postgres extra max_connections", set: map[string]any{"postgres.tuning.extra.max_connections": "5000"},
		key: "postgres.tuning.extra.max_connections", want: `would override tuning.maxConnections`},
	{name: "redis extra maxmemory", set: map[string]any{"redis.tuning.extra.maxmemory": "2gb"},
		key: "redis.tuning.extra.maxmemory", want: `would override tuning.maxMemory (maxmemory `},
	{name: "redis extra maxmemory-policy", set: map[string]any{"redis.tuning.extra.maxmemory-policy": "noeviction"},
		key: "redis.tuning.extra.maxmemory-policy", want: `would override tuning.maxMemoryPolicy`},
	{name: "redis extra appendonly", set: map[string]any{"redis.tuning.extra.appendonly": "no"},
		key: "redis.tuning.extra.appendonly", want: `would override tuning.appendOnly`},
	{name: "postgres extra port", set: map[string]any{"postgres.tuning.extra.port": "5433"},
		key: "postgres.tuning.extra.port", want: `cannot be set: the healthcheck, DB_PORT and the backups connect to 5432`},
	{name: "postgres extra listen_addresses", set: map[string]any{"postgres.tuning.extra.listen_addresses": "localhost"},
		key: "postgres.tuning.extra.listen_addresses", want: `cannot be set: the backend and the backups connect over the data network`},
	{name: "postgres extra in upper case", set: map[string]any{"postgres.tuning.extra.Work_Mem": "8MB"},
		key: "postgres.tuning.extra.Work_Mem", want: `is not a Postgres setting name`, value: "Work_Mem"},
	{name: "redis extra requirepass", set: map[string]any{"redis.tuning.extra.requirepass": "hunter2"},
		key: "redis.tuning.extra.requirepass", want: `cannot be set: the password is generated`, absent: "hunter2"},
	{name: "redis extra port", set: map[string]any{"redis.tuning.extra.port": "6380"},
		key: "redis.tuning.extra.port", want: `cannot be set: the healthcheck and REDIS_PORT connect to 6379`},
	{name: "redis extra daemonize", set: map[string]any{"redis.tuning.extra.daemonize": "yes"},
		key: "redis.tuning.extra.daemonize", want: `cannot be set: the container's process must stay in the foreground`},

	// Postgres's own bounds.
	{name: "work_mem above Postgres's maximum", set: map[string]any{"postgres.tuning.workMem": "3TB"},
		key: "postgres.tuning.workMem", want: `is above Postgres's maximum of 2147483647kB for work_mem; the server would not start`, count: 1},
	{name: "work_mem below Postgres's minimum", set: map[string]any{"postgres.tuning.workMem": "32kB"},
		key: "postgres.tuning.workMem", want: `is below Postgres's minimum of 64kB for work_mem`},
	{name: "shared_buffers below Postgres's minimum", set: map[string]any{"postgres.tuning.sharedBuffers": "64kB"},
		key: "postgres.tuning.sharedBuffers", want: `is below Postgres's minimum of 128kB`},
	{name: "shared_buffers above Postgres's maximum", set: map[string]any{"postgres.tuning.sharedBuffers": "9TB"},
		key: "postgres.tuning.sharedBuffers", want: `is above Postgres's maximum of 8589934584kB for shared_buffers`, count: 1},
	{name: "effective_cache_size above Postgres's maximum", set: map[string]any{"postgres.tuning.effectiveCacheSize": "20TB"},
		key: "postgres.tuning.effectiveCacheSize", want: `is above Postgres's maximum of 17179869176kB`, count: 1},
	{name: "max_connections above Postgres's maximum", set: map[string]any{"postgres.tuning.maxConnections": 262122},
		key: "postgres.tuning.maxConnections", want: `is above Postgres's maximum of 262121: with its 22 other processes`, count: 1},
	{name: "max_connections at or below the reserved slots", set: map[string]any{"postgres.tuning.maxConnections": 3},
		key: "postgres.tuning.maxConnections", want: `leaves no connection for the application: superuser_reserved_connections and reserved_connections hold 3`, count: 1},
	{name: "reserved slots raised past max_connections", set: map[string]any{"postgres.tuning.maxConnections": 40, "postgres.tuning.extra.superuser_reserved_connections": "40"},
		key: "postgres.tuning.maxConnections", want: `leaves no connection for the application`, value: "40"},
	{name: "checkpoint_completion_target above 1", set: map[string]any{"postgres.tuning.checkpointCompletionTarget": 1.5},
		key: "postgres.tuning.checkpointCompletionTarget", want: `must be more than 0 and at most 1`},
	{name: "max_parallel_workers above Postgres's maximum", set: map[string]any{"postgres.tuning.maxParallelWorkers": 2000},
		key: "postgres.tuning.maxParallelWorkers", want: `must be between 0 and 1024`},
	{name: "postgres user not an identifier", set: map[string]any{"postgres.user": "App"},
		key: "postgres.user", want: `is not a plain Postgres identifier`},
	{name: "postgres user the superuser", set: map[string]any{"postgres.user": "postgres"},
		key: "postgres.user", want: `"postgres" is the superuser's name`},
	{name: "postgres user a reserved name", set: map[string]any{"postgres.user": "pg_app"},
		key: "postgres.user", want: `Postgres reserves role names that begin with pg_`},
	{name: "postgres database with a hyphen", set: map[string]any{"postgres.database": "my-db"},
		key: "postgres.database", want: `is not a plain Postgres identifier`},
	{name: "max_connections not a number", set: map[string]any{"postgres.tuning.maxConnections": "many"},
		key: "postgres.tuning.maxConnections", want: `is not a whole number`},

	// Redis's own bounds.
	{name: "tcp-keepalive above Redis's maximum", set: map[string]any{"redis.tuning.tcpKeepalive": "100y"},
		key: "redis.tuning.tcpKeepalive", want: `is above Redis's maximum of 2147483647s for tcp-keepalive`},
	{name: "maxclients of 0", set: map[string]any{"redis.tuning.maxClients": 0},
		key: "redis.tuning.maxClients", want: `must be at least 1`},
	{name: "snapshot schedule with 0 seconds", set: map[string]any{"redis.tuning.save": "0 1000"},
		key: "redis.tuning.save", want: `is not a snapshot schedule`},
	{name: "maxmemory of 0", set: map[string]any{"redis.tuning.maxMemory": "0"},
		key: "redis.tuning.maxMemory", want: `must be at least 1mb`},
	{name: "unknown eviction policy", set: map[string]any{"redis.tuning.maxMemoryPolicy": "lru"},
		key: "redis.tuning.maxMemoryPolicy", want: `is not a maxmemory-policy`},

	// What the container's memory cannot hold: errors in every stack.
	{name: "shared_buffers above the memory limit", set: map[string]any{"postgres.tuning.sharedBuffers": "2GB"},
		key: "postgres.tuning.sharedBuffers", want: `does not fit in the container's`, count: 1},
	{name: "redis maxmemory above the memory limit", set: map[string]any{"redis.tuning.maxMemory": "2gb"},
		key: "redis.tuning.maxMemory", want: `does not fit in the container's`, absent: "leaves -", count: 1},
	{name: "redis maxmemory at the memory limit", set: map[string]any{"redis.tuning.maxMemory": "768mb"},
		key: "redis.tuning.maxMemory", want: `does not fit in the container's`, count: 1},
	{name: "max_connections far above what the memory holds", set: map[string]any{"postgres.tuning.maxConnections": 100000},
		key: "postgres.tuning.maxConnections", want: `connections need at least`, count: 1},
	{name: "file uploads held in memory above the memory limit", set: map[string]any{"backend.uploads.fileMaxMemorySize": "4G"},
		key: "backend.uploads.fileMaxMemorySize", want: `does not fit in the container's`},
	{name: "request bodies held in memory at the memory limit", set: map[string]any{"backend.uploads.dataMaxMemorySize": "2G"},
		key: "backend.uploads.dataMaxMemorySize", want: `does not fit in the container's`},

	// Docker's own bounds.
	{name: "memory limit below Docker's minimum", set: map[string]any{"postgres.resources.limits.memory": "5M"},
		key: "postgres.resources.limits.memory", want: `must be a whole number of MiB, at least 6M (Docker's minimum since 20.10)`},
	{name: "memory reservation below Docker's minimum", set: map[string]any{"nginx.resources.reservations.memory": "4M"},
		key: "nginx.resources.reservations.memory", want: `at least 6M`},
	{name: "memory limit of 0M, quoted as written", set: map[string]any{"redis.resources.limits.memory": "0M"},
		key: "redis.resources.limits.memory", want: `"0M" must be a whole number of MiB`, absent: `"0B"`, count: 1},
	{name: "CPU limit of 0, quoted as written", set: map[string]any{"backend.resources.limits.cpus": 0},
		key: "backend.resources.limits.cpus", want: `"0" must be more than 0`, absent: `"0.0"`, count: 1},
	{name: "CPU limit above the host's CPUs", set: map[string]any{"backend.resources.limits.cpus": "8.0"},
		key: "backend.resources.limits.cpus", want: `is more than the host's`},
	{name: "CPU limit above the host's CPUs, a number", set: map[string]any{"traefik.resources.limits.cpus": 16},
		key: "traefik.resources.limits.cpus", want: `"16" is more than the host's`},
	{name: "reservation above the memory limit", set: map[string]any{"postgres.resources.reservations.memory": "4G"},
		key: "postgres.resources.reservations.memory", want: `is above the memory limit`},
	{name: "healthcheck without retries", set: map[string]any{"postgres.healthcheck.retries": 0},
		key: "postgres.healthcheck.retries", want: `must be at least 1`},
	{name: "unknown restart condition", set: map[string]any{"postgres.restart.condition": "sometimes"},
		key: "postgres.restart.condition", want: `is not a restart condition`},
	{name: "no rotated log file", set: map[string]any{"redis.logs.maxFiles": 0},
		key: "redis.logs.maxFiles", want: `must be at least 1`},
	{name: "negative stop timeout", set: map[string]any{"postgres.stopTimeout": "-1s"},
		key: "postgres.stopTimeout", want: `is not a duration`},
	{name: "same host port for http and https", stacks: servedStacks, set: map[string]any{"traefik.httpPort": 8443, "traefik.httpsPort": 8443},
		key: "traefik.httpsPort", want: `is also traefik.httpPort: Docker cannot publish one host port for both`, value: "8443"},
	{name: "same host port for http and https, local with TLS", stacks: []string{"local"}, set: map[string]any{"tls": true, "traefik.httpPort": 8443, "traefik.httpsPort": 8443},
		key: "traefik.httpsPort", want: `is also traefik.httpPort`, value: "8443"},

	// Image references, parsed as Docker parses them.
	{name: "upper-case first component", set: map[string]any{"backend.image": "UPPER/app:1"},
		key: "backend.image", want: `Docker reads "UPPER" as a registry host`},
	{name: "upper-case image", set: map[string]any{"postgres.image": "Postgres:16"},
		key: "postgres.image", want: `is not an image reference (Docker: invalid reference format: repository name`},
	{name: "upper-case path after a registry", set: map[string]any{"redis.image": "docker.io/Library/redis:7"},
		key: "redis.image", want: `must be lowercase`},
	{name: "empty tag", set: map[string]any{"nginx.image": "nginx:"},
		key: "nginx.image", want: `is not an image reference`},
	{name: "short digest", set: map[string]any{"traefik.image": "traefik@sha256:abc"},
		key: "traefik.image", want: `is not an image reference`},

	// The environment contract.
	{name: "env names DB_HOST", set: map[string]any{"backend.env.DB_HOST": "db.example.com"},
		key: "backend.env.DB_HOST", want: `cannot replace DB_HOST, which the program sets: the stack's Postgres server`},
	{name: "env names SECRET_KEY", set: map[string]any{"backend.env.SECRET_KEY": "s3cr3t-value"},
		key: "backend.env.SECRET_KEY", want: `SECRET_KEY is generated and kept secret in the stack's state (set rotation.secretKey`, absent: "s3cr3t-value"},
	{name: "env names DB_PASSWORD", set: map[string]any{"backend.env.DB_PASSWORD": "pa55word"},
		key: "backend.env.DB_PASSWORD", want: `(set rotation.postgres to a new value`, absent: "pa55word"},
	{name: "env names REDIS_PASSWORD_FILE", set: map[string]any{"backend.env.REDIS_PASSWORD_FILE": "/run/secrets/mine"},
		key: "backend.env.REDIS_PASSWORD_FILE", want: `(set rotation.redis to a new value`, absent: "/run/secrets/mine"},
	{name: "env names WEB_CONCURRENCY", set: map[string]any{"backend.env.WEB_CONCURRENCY": "8"},
		key: "backend.env.WEB_CONCURRENCY", want: `set backend.workers instead`},
	{name: "env names ALLOWED_HOSTS", set: map[string]any{"backend.env.ALLOWED_HOSTS": "*"},
		key: "backend.env.ALLOWED_HOSTS", want: `set domains instead`},
	{name: "env names USE_TLS", set: map[string]any{"backend.env.USE_TLS": "False"},
		key: "backend.env.USE_TLS", want: `set tls instead`},
	{name: "env name not a variable name", set: map[string]any{"backend.env.1BAD": "x"},
		key: "backend.env.1BAD", want: `is not an environment variable name`, value: "1BAD"},

	// Domains.
	{name: "domains differing only in case", set: map[string]any{"domains": []any{"example.com", "EXAMPLE.com"}},
		key: "domains[1]", want: `"EXAMPLE.com" is listed twice: domains[0] is "example.com", and DNS names ignore case`, value: "EXAMPLE.com"},
	{name: "a domain listed twice", set: map[string]any{"domains": []any{"example.com", "example.com"}},
		key: "domains[1]", want: `is listed twice (domains[0])`, value: "example.com"},
	{name: "an IP address as the domain with TLS", stacks: []string{"production", "staging"}, set: map[string]any{"domains": []any{"203.0.113.10"}},
		key: "domains[0]", want: `is an IP address: with tls on, Traefik gets the site's certificate from Let's Encrypt`, value: "203.0.113.10"},
	{name: "an IP address as a clone's domain", stacks: []string{"pr-42"}, set: map[string]any{"domains": []any{"203.0.113.10"}},
		key: "domains[0]", want: `is an IP address: a clone of staging answers on its own name`, value: "203.0.113.10", absent: "pr-42.203"},
	{name: "an IP address with Cloudflare", stacks: []string{"local"}, edge: true, set: map[string]any{"domains": []any{"203.0.113.10"}},
		key: "domains[0]", want: `is an IP address: edge.zoneId makes Cloudflare records`, value: "203.0.113.10"},
	{name: "a domain with a port", set: map[string]any{"domains": []any{"localhost:8080"}},
		key: "domains[0]", want: `is not a domain name`, value: "localhost:8080"},
	{name: "an empty domain", set: map[string]any{"domains": []any{""}},
		key: "domains[0]", want: `"" is not a domain name`, value: `""`},
	{name: "domains as one string", set: map[string]any{"domains": "example.com"},
		key: "domains", want: `"example.com" is not a list`, count: 1, absent: "must list"},
	{name: "a clone's bad domain is blamed as written", stacks: []string{"pr-42"}, set: map[string]any{"domains": []any{"staging.example.com/app"}},
		key: "domains[0]", want: `"staging.example.com/app" is not a domain name`, value: "staging.example.com/app", absent: "pr-42.staging"},

	// Stack names.
	{name: "a stack named Staging", stacks: []string{"Staging"},
		key: "stack name", want: `"Staging" is not "staging": stack names are case-sensitive`, value: "Staging", absent: "domains"},
	{name: "a stack named PR_42", stacks: []string{"PR_42"},
		key: "stack name", want: `"PR_42" cannot name a clone`, value: "PR_42", absent: "domains["},
	{name: "a clone name too long for its containers' host names", stacks: []string{"feature-" + strings.Repeat("x", 40)},
		key: "stack name", want: `past DNS's 63 per label: the backend could not resolve DB_HOST and REDIS_HOST; use a name of at most 41 characters`, value: "feature-" + strings.Repeat("x", 40)},
	{name: "a clone running its own Traefik", stacks: []string{"pr-42"}, set: map[string]any{"traefik.ingress": "own"},
		key: "traefik.ingress", want: `gives clone pr-42 a Traefik of its own on ports 80 and 443, which staging's Traefik holds`},
	{name: "a clone running the host's Traefik", stacks: []string{"pr-42"}, set: map[string]any{"traefik.ingress": "host"},
		key: "traefik.ingress", want: `would make clone pr-42 run the host's shared Traefik, which staging runs`},
	{name: "staging joining instead of running the host's Traefik", stacks: []string{"staging", "production", "local"}, set: map[string]any{"traefik.ingress": "join"},
		key: "traefik.ingress", want: `the host would have no Traefik at all`},
	{name: "unknown ingress", set: map[string]any{"traefik.ingress": "shared"},
		key: "traefik.ingress", want: `is not an ingress (own, host or join)`},

	// A local build, checked before anything is registered.
	{name: "missing build context", stacks: []string{"local"}, set: map[string]any{"backend.build.context": "examples/nope"},
		key: "backend.build.context", want: `does not exist (in the project directory`},
	{name: "build context that is a file", stacks: []string{"local"}, set: map[string]any{"backend.build.context": "README.md"},
		key: "backend.build.context", want: `is a file, not a directory`},
	{name: "missing Dockerfile", stacks: []string{"local"}, set: map[string]any{"backend.build.dockerfile": "Dockerfile.prod"},
		key: "backend.build.dockerfile", want: `is not a file in the build context "examples/backend"`},
	{name: "missing build context in staging", stacks: []string{"staging"}, set: map[string]any{"backend.image": "", "backend.build.context": "nope"},
		key: "backend.build.context", want: `does not exist`, value: "nope"},

	// Shapes and types: one message at the key written, no follow-ons.
	{name: "host as a string", stacks: publicStacks, set: map[string]any{"host": "ssh://deploy@203.0.113.10"},
		key: "host", want: `is not an object of settings`, count: 1, absent: "host.docker"},
	{name: "host key misspelt", stacks: publicStacks, raw: map[string]any{"host": map[string]any{"dockr": "ssh://deploy@203.0.113.10"}},
		key: "host.dockr", want: `did you mean "docker"?`, value: "dockr", count: 1, absent: "must name the stack's Docker host"},
	{name: "postgres as a string", set: map[string]any{"postgres": "big"},
		key: "postgres", want: `is not an object of settings`, count: 1},
	{name: "unreadable memory limit, no comparison with the default", set: map[string]any{"postgres.resources.limits.memory": "lots", "postgres.tuning.sharedBuffers": "900MB"},
		key: "postgres.resources.limits.memory", want: `is not a size`, value: "lots", count: 1},
	{name: "unreadable redis limit, no headroom finding", set: map[string]any{"redis.resources.limits.memory": "abc", "redis.tuning.maxMemory": "700mb"},
		key: "redis.resources.limits.memory", want: `is not a size`, value: "abc", count: 1},
	{name: "a revision as an object", set: map[string]any{"rotation.postgres": map[string]any{"a": 1}},
		key: "rotation.postgres", want: `{"a":1} is not a single value`, value: `{"a":1}`},
	{name: "a command as one string", set: map[string]any{"backend.command": "python manage.py runserver"},
		key: "backend.command", want: `is not a list`},
	{name: "tls as yes", set: map[string]any{"tls": "yes"},
		key: "tls", want: `is not true or false`},
	{name: "keepData as sometimes", set: map[string]any{"keepData": "sometimes"},
		key: "keepData", want: `is not true or false`},
	{name: "allowDataVolumeReplacement as maybe", set: map[string]any{"allowDataVolumeReplacement": "maybe"},
		key: "allowDataVolumeReplacement", want: `is not true or false`},
	{name: "unknown runtime", set: map[string]any{"runtime": "kubernetes"},
		key: "runtime", want: `is not a runtime (container or swarm)`},
	{name: "a bind address on a swarm", stacks: []string{"production"}, set: map[string]any{"runtime": "swarm", "traefik.bindAddress": "127.0.0.1"},
		key: "traefik.bindAddress", want: `cannot hold on a swarm: a service publishes its ports on every address`, value: "127.0.0.1"},
	{name: "null setting", set: map[string]any{"backend.workers": nil},
		key: "backend.workers", want: `is null; remove the key to keep the default`, value: "null"},

	// The backend.
	{name: "no replica", set: map[string]any{"backend.replicas": 0}, key: "backend.replicas", want: `must be at least 1`},
	{name: "negative workers", set: map[string]any{"backend.workers": -1}, key: "backend.workers", want: `must be at least 1`},
	{name: "port 0", set: map[string]any{"backend.port": 0}, key: "backend.port", want: `is not a port (1-65535)`},
	{name: "health path without a slash", set: map[string]any{"backend.healthPath": "api"}, key: "backend.healthPath", want: `is not a URL path`},
	{name: "redis database 16", set: map[string]any{"backend.redis.db": 16}, key: "backend.redis.db", want: `is not a Redis database number (0-15)`},
	{name: "origin with a trailing slash", set: map[string]any{"backend.cors.allowedOrigins": []any{"https://example.com/"}},
		key: "backend.cors.allowedOrigins[0]", want: `is not an origin`, value: "https://example.com/"},
	{name: "rate per fortnight", set: map[string]any{"backend.drf.anonRate": "5/fortnight"}, key: "backend.drf.anonRate", want: `is not a rate`},
	{name: "no keepalive probe", set: map[string]any{"backend.database.keepalivesCount": 0}, key: "backend.database.keepalivesCount", want: `must be at least 1`},
	{name: "no migration attempt", set: map[string]any{"backend.migrate.attempts": 0}, key: "backend.migrate.attempts", want: `must be at least 1`},

	// nginx and Traefik.
	{name: "gzip level 0", set: map[string]any{"nginx.gzip.level": 0}, key: "nginx.gzip.level", want: `is not a gzip level (1-9)`},
	{name: "too few worker connections", set: map[string]any{"nginx.workerConnections": 8}, key: "nginx.workerConnections", want: `must be at least 16`},
	{name: "nginx timeout in milliseconds", set: map[string]any{"nginx.clientBodyTimeout": "500ms"}, key: "nginx.clientBodyTimeout", want: `must be a whole number of seconds`},
	{name: "verbose Traefik", set: map[string]any{"traefik.logLevel": "verbose"}, key: "traefik.logLevel", want: `is not a Traefik log level`},
	{name: "ACME challenge dns-01", set: map[string]any{"traefik.acme.challenge": "dns-01"}, key: "traefik.acme.challenge", want: `is not an ACME challenge`},
	{name: "ACME email without @", set: map[string]any{"traefik.acme.email": "admin"}, key: "traefik.acme.email", want: `is not an email address`},
	{name: "metrics on 443", set: map[string]any{"traefik.metrics.port": 443}, key: "traefik.metrics.port", want: `is taken by the web or websecure entrypoint`},
	{name: "bind address as a name", set: map[string]any{"traefik.bindAddress": "localhost"}, key: "traefik.bindAddress", want: `is not an IP address`},
	{name: "http port out of range", set: map[string]any{"traefik.httpPort": 70000}, key: "traefik.httpPort", want: `is not a port (1-65535)`},

	// A private ACME CA's roots: PEM certificates and nothing else, and the
	// text is never echoed (a key pasted by mistake would be printed by
	// every preview).
	{name: "CA roots as a file name", set: map[string]any{"traefik.acme.caCertificates": "/etc/ssl/root.pem"},
		key: "traefik.acme.caCertificates", want: `is a file name: the setting holds the certificate's PEM text`},
	{name: "CA roots that are a private key", set: map[string]any{"traefik.acme.caCertificates": testCA.key},
		key: "traefik.acme.caCertificates", want: `block 1 (line 1) is a private key ("PRIVATE KEY"), which must never be in the stack's config`, absent: testCA.keyLine},
	{name: "a CA root and its key", set: map[string]any{"traefik.acme.caCertificates": testCA.root + testCA.key},
		key: "traefik.acme.caCertificates", want: `block 2 (line `, absent: testCA.keyLine, count: 1},
	{name: "a CA root and its key set without --path", raw: map[string]any{"traefik.acme.caCertificates": testCA.root + testCA.key},
		key: "traefik.acme.caCertificates", want: `is not a top-level setting: a key inside traefik is set with --path`, absent: testCA.keyLine},
	{name: "CA roots with text after them", set: map[string]any{"traefik.acme.caCertificates": testCA.root + "see root.txt\n"},
		key: "traefik.acme.caCertificates", want: `is not PEM (only -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks`, absent: "root.txt"},
	{name: "a CA root cut short", set: map[string]any{"traefik.acme.caCertificates": testCA.root[:len(testCA.root)/2]},
		key: "traefik.acme.caCertificates", want: `the PEM block at line 1 has no END line, or broken base64`, absent: "MII"},
	{name: "a CA certificate request", set: map[string]any{"traefik.acme.caCertificates": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"},
		key: "traefik.acme.caCertificates", want: `block 1 (line 1) is a "CERTIFICATE REQUEST", not a CERTIFICATE`, value: "CERTIFICATE REQUEST"},
	{name: "an expired CA root", set: map[string]any{"traefik.acme.caCertificates": testCA.second + testCA.expired},
		key: "traefik.acme.caCertificates", want: `expired on`, value: "CN=Old Test Root CA"},

	// The host, the backups, Cloudflare.
	{name: "docker host without a scheme", set: map[string]any{"host.docker": "docker.example.com"}, key: "host.docker", want: `is not a Docker host address`},
	{name: "ssh options on a socket", stacks: []string{"local"}, set: map[string]any{"host.sshOpts": []any{"-v"}}, key: "host.sshOpts", want: `only apply to an ssh:// host, not "unix:///var/run/docker.sock"`, value: "unix:///var/run/docker.sock"},
	{name: "registry without a user", set: map[string]any{"host.registry.address": "registry.example.com", "registryPassword": secret("x")},
		key: "host.registry.username", want: `must be set with host.registry.address`, value: "host.registry.address"},
	{name: "registry password in plain text", set: map[string]any{"host.registry.address": "registry.example.com", "host.registry.username": "ci", "registryPassword": "hunter2"},
		key: "django-stack:registryPassword", want: `is stored in plain text in the stack's config`, absent: "hunter2"},
	{name: "backups every 30s", stacks: backedUp, set: map[string]any{"backup.interval": "30s"}, key: "backup.interval", want: `must be a whole number of seconds, at least 60s`},
	{name: "no dump kept", stacks: backedUp, set: map[string]any{"backup.keep": 0}, key: "backup.keep", want: `must be at least 1`},
	{name: "off-site copies to an https URL", stacks: backedUp, set: map[string]any{"backup.offsite.url": "https://bucket", "backup.offsite.accessKeyId": "AKIA", "offsiteSecretKey": secret("x")},
		key: "backup.offsite.url", want: `is not an S3 location`, value: "https://bucket"},
	{name: "off-site CA roots that are a private key", stacks: backedUp, set: map[string]any{"backup.offsite.url": "s3://bucket/p", "backup.offsite.accessKeyId": "AKIA", "offsiteSecretKey": secret("x"),
		"backup.offsite.endpoint": "https://s3.internal.example", "backup.offsite.caCertificates": testCA.key},
		key: "backup.offsite.caCertificates", want: `block 1 (line 1) is a private key`, absent: testCA.keyLine},
	{name: "off-site CA roots for AWS S3", stacks: backedUp, set: map[string]any{"backup.offsite.url": "s3://bucket/p", "backup.offsite.accessKeyId": "AKIA", "offsiteSecretKey": secret("x"),
		"backup.offsite.caCertificates": testCA.root},
		key: "backup.offsite.caCertificates", want: `is set without offsite.endpoint: the copy would trust only these roots`, absent: strings.Split(testCA.root, "\n")[1]},
	{name: "zone id not hexadecimal", edge: true, set: map[string]any{"edge.zoneId": "my-zone"}, key: "edge.zoneId", want: `is not a Cloudflare zone id`},
	{name: "Cloudflare token in plain text", edge: true, set: map[string]any{"cloudflare:apiToken": "tok-plain"},
		key: "cloudflare:apiToken", want: `is stored in plain text`, absent: "tok-plain"},
	{name: "a private address for the records", edge: true, set: map[string]any{"edge.addresses": []any{"10.0.0.5"}},
		key: "edge.addresses[0]", want: `is not a public IP address`, value: "10.0.0.5"},

	// Only unwise: an error in production, a warning elsewhere.
	{name: "shared_buffers half the memory limit", unwise: true, set: map[string]any{"postgres.tuning.sharedBuffers": "500MB"},
		key: "postgres.tuning.sharedBuffers", want: `of the`},
	{name: "planner cache above the memory limit", unwise: true, set: map[string]any{"postgres.tuning.effectiveCacheSize": "1025MB"},
		key: "postgres.tuning.effectiveCacheSize", want: `is above the`},
	{name: "uploads of every worker above the memory limit", unwise: true, stacks: []string{"production", "staging", "pr-42"}, set: map[string]any{"backend.uploads.fileMaxMemorySize": "600M"},
		key: "backend.uploads.fileMaxMemorySize", want: `workers = `},
}

// TestBadConfigIsRefusedWhereverItApplies runs every bad config in every
// stack it applies to: the problem is reported at its key, quoting what the
// user wrote, once, in the program's own words, before anything is
// registered.
func TestBadConfigIsRefusedWhereverItApplies(t *testing.T) {
	if n := len(badConfigs); n < 100 {
		t.Fatalf("only %d bad configs", n)
	}
	runs := 0
	for _, c := range badConfigs {
		value := c.value
		if value == "" && c.absent == "" && len(c.set) == 1 {
			for _, v := range c.set {
				value, _ = scalar(v)
			}
		}
		if value == "" && c.absent == "" {
			t.Errorf("%s: states neither the value the message must quote nor a secret it must not", c.name)
			continue
		}
		stacks := c.stacks
		if stacks == nil {
			stacks = everyStack
		}
		for _, stack := range stacks {
			runs++
			cfg := baseConfig(t, stack)
			if c.edge {
				cfg = withEdge(cfg)
			}
			for k, v := range c.raw {
				cfg[k] = v
			}
			for path, v := range c.set {
				if strings.Contains(path, ":") {
					cfg[path] = v
				} else {
					cfg = setPath(cfg, path, v)
				}
			}
			r := deploy(t, stack, cfg)
			what := fmt.Sprintf("%s (stack %s)", c.name, stack)
			if c.unwise && stack != "production" {
				if r.err != nil || !hasKey(r.warnings, c.key) {
					t.Errorf("%s: want a warning at %s and a deployment, got %v, warnings %v", what, c.key, r.err, r.warnings)
				}
				continue
			}
			if r.err == nil {
				t.Errorf("%s: accepted", what)
				continue
			}
			msg := r.err.Error()
			switch {
			case !hasLine(msg, c.key+": ", c.want):
				t.Errorf("%s: no line %q containing %q:\n%s", what, c.key+": ", c.want, msg)
			case value != "" && !hasLine(msg, c.key+": ", value):
				t.Errorf("%s: the line at %s does not quote %q as written:\n%s", what, c.key, value, msg)
			}
			if c.absent != "" && strings.Contains(msg, c.absent) {
				t.Errorf("%s: the message says %q:\n%s", what, c.absent, msg)
			}
			if c.count != 0 && !strings.Contains(msg, fmt.Sprintf("has %s;", problemCount(c.count))) {
				t.Errorf("%s: want %s, no follow-ons:\n%s", what, problemCount(c.count), msg)
			}
			if !r.reported || strings.Contains(msg, "error occurred") || !strings.HasPrefix(msg, "stack "+stack+": the configuration has ") {
				t.Errorf("%s: not reported once in the program's own words (reported %v):\n%s", what, r.reported, msg)
			}
			if n := len(r.rec.regs); n != 0 {
				t.Errorf("%s: %d resources registered", what, n)
			}
		}
	}
	t.Logf("%d bad configs, %d runs", len(badConfigs), runs)
}

// scalar is a config value as the user wrote it, when it is one value.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int, float64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

func problemCount(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

// One problem reads as the issue asks: the stack, the count, then the key
// and what is wrong, once. Through the SDK the same error would arrive
// wrapped ("1 error occurred: * ..."): the program reports it itself.
func TestOneProblemReadsAsOneMessage(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["postgress"] = map[string]any{"tuning": map[string]any{"workMem": "8MB"}}
	r := deploy(t, "production", cfg)
	want := "stack production: the configuration has 1 problem; nothing was deployed:\n" +
		`postgress: is not a setting; did you mean "postgres"? (known keys: ` + strings.Join(stacks.KnownKeys(), ", ") + ")"
	if r.err == nil || r.err.Error() != want || !r.reported {
		t.Errorf("got (reported %v):\n%v\nwant:\n%s", r.reported, r.err, want)
	}
}

// Run's exit status: a reported error was logged through the engine already
// (the language host then adds nothing); anything else goes to stderr.
func TestExitStatus(t *testing.T) {
	var stderr strings.Builder
	if got := stacks.ExitStatus(nil, &stderr); got != 0 || stderr.Len() != 0 {
		t.Errorf("no error: %d, %q", got, stderr.String())
	}
	// A config error as pulumi.RunErr returns it: wrapped by the SDK, which
	// is why the program logs it itself.
	values, secrets := configFor(t, with(t, "production", "postgres.tuning.workMem", "3TB"))
	var program stacks.Program
	reported := pulumi.RunErr(program.Deploy, pulumi.WithMocks(project, "production", newRecorder("production")), func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
	}, program.ReadConfig)
	if !strings.Contains(fmt.Sprint(reported), "1 error occurred") {
		t.Errorf("the SDK no longer wraps a program's error (%v): the program could return it as it is", reported)
	}
	if got := stacks.ExitStatus(reported, &stderr); got != 32 || stderr.Len() != 0 {
		t.Errorf("a reported error, as RunErr returns it: %d, %q", got, stderr.String())
	}
	if got := stacks.ExitStatus(errors.New("waiting for RPCs: boom"), &stderr); got != 1 || !strings.Contains(stderr.String(), "waiting for RPCs: boom") {
		t.Errorf("another error: %d, %q", got, stderr.String())
	}
}

// The program sees the whole config only through ReadConfig; run without
// it, or with it before the option that sets the config, it refuses to
// guess.
func TestTheProgramListsTheConfigItIsGiven(t *testing.T) {
	values, secrets := configFor(t, fixtureConfig(t, "production"))
	withConfig := func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
	}
	var unread stacks.Program
	err := pulumi.RunErr(unread.Deploy, pulumi.WithMocks(project, "production", newRecorder("production")), withConfig)
	if err == nil || !strings.Contains(err.Error(), "the stack's config was not read") {
		t.Errorf("without ReadConfig: %v", err)
	}
	var early stacks.Program
	err = pulumi.RunErr(early.Deploy, pulumi.WithMocks(project, "production", newRecorder("production")), early.ReadConfig, withConfig)
	if err == nil || !strings.Contains(err.Error(), "pass ReadConfig after the option that sets RunInfo.Config") {
		t.Errorf("with ReadConfig first: %v", err)
	}
}

// What the program reads and what belongs to others is accepted: the
// secret keys of the project, and other namespaces' keys.
func TestKeysOfOthersAndSecretKeysAreAccepted(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["registryPassword"] = secret("unused")
	cfg["offsiteSecretKey"] = secret("unused")
	cfg["docker:host"] = "unix:///var/run/docker.sock"
	cfg["random:anything"] = "x"
	cfg["other-project:postgress"] = "x"
	deployOK(t, "production", cfg)
}

// `pulumi config set --path rotation.postgres 2` stores the number 2: any
// value names a revision.
func TestARevisionMayBeANumber(t *testing.T) {
	for _, v := range []any{2, 20261130, true} {
		r := deployOK(t, "production", with(t, "production", "rotation.postgres", v))
		want := map[string]any{"revision": fmt.Sprint(v)}
		if got := r.get(typeRandomPassword, "secrets-postgres-password").input("keepers"); !reflect.DeepEqual(got, want) {
			t.Errorf("rotation.postgres = %v: keepers %v, want %v", v, got, want)
		}
	}
}

// Domains and origins are names that ignore case: the program writes them
// in lower case, says so, and every exact-match list gets them so.
func TestUpperCaseNamesAreWrittenInLowerCase(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["domains"] = []any{"Example.COM", "www.example.com"}
	cfg = setPath(cfg, "backend.cors.allowedOrigins", []any{"HTTPS://App.Example.com"})
	r := deployOK(t, "production", cfg)
	for _, key := range []string{"domains[0]", "backend.cors.allowedOrigins[0]"} {
		if !hasKey(r.warnings, key) {
			t.Errorf("no note at %s: %v", key, r.warnings)
		}
	}
	if !strings.Contains(fmt.Sprint(r.warnings), `domains[0]: "Example.COM" is used as "example.com"`) {
		t.Errorf("the note does not say what was written and what is used: %v", r.warnings)
	}
	env, _ := r.container("backend-1").env()
	for k, v := range map[string]string{
		"ALLOWED_HOSTS":        "example.com,www.example.com",
		"CSRF_TRUSTED_ORIGINS": "https://example.com,https://www.example.com",
		"CORS_ALLOWED_ORIGINS": "https://app.example.com",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// An address is a fine name for a site on plain http without Cloudflare.
func TestAnAddressServesPlainHTTP(t *testing.T) {
	cfg := localConfig(t)
	cfg["domains"] = []any{"192.168.1.5"}
	env, _ := deployOK(t, "local", cfg).container("backend-1").env()
	if env["ALLOWED_HOSTS"] != "192.168.1.5" {
		t.Errorf("ALLOWED_HOSTS = %q", env["ALLOWED_HOSTS"])
	}
}

// A clone joins staging's Traefik; one with ports of its own may run its own.
func TestACloneMayRunItsOwnTraefikOnPortsOfItsOwn(t *testing.T) {
	cfg := fixtureConfig(t, "staging")
	cfg["traefik"] = map[string]any{"ingress": "own", "httpPort": 8081, "httpsPort": 8444}
	deployOK(t, "pr-42", cfg)
}

// A misspelt key hides the problems of its guess's default, never those of
// a value the config set too.
func TestAMisspeltKeyHidesOnlyTheDefaultOfItsGuess(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["backend"] = map[string]any{"image": "App:1", "imag": "app:1"}
	r := deploy(t, "production", cfg)
	for _, want := range []string{`backend.imag: is not a setting; did you mean "image"?`, `backend.image: "App:1" is not an image reference`} {
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, r.err)
		}
	}
}
