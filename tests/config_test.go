package tests

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/site"
)

func TestStructuredOverridesMergeKeyByKey(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["postgres"] = map[string]any{
		"tuning":    map[string]any{"workMem": "8MB"},
		"resources": map[string]any{"limits": map[string]any{"memory": "2G"}},
	}
	cfg["redis"] = map[string]any{"tuning": map[string]any{"maxClients": "20000"}} // --path stores numbers as text
	cfg["backend"] = map[string]any{
		"image":    "registry.example.com/django-app:1.0.1",
		"replicas": 3,
		"drf":      map[string]any{"anonRate": "100/min"},
		"cors":     map[string]any{"allowedOrigins": []any{"https://app.example.com"}},
		"env":      map[string]any{"SENTRY_ENVIRONMENT": "production"},
	}
	cfg["traefik"] = map[string]any{"resources": map[string]any{"limits": map[string]any{"cpus": 1.5}}}
	cfg = setPath(cfg, "host.cpus", 6) // room for the third replica's reservation
	r := deployOK(t, "production", cfg)

	pg := r.container("postgres")
	command := strings.Join(pg.strings("command"), " ")
	if !strings.Contains(command, "work_mem=8MB") || !strings.Contains(command, "shared_buffers=256MB") {
		t.Errorf("postgres command %q: the override must change work_mem and keep the rest", command)
	}
	if pg.num("memory") != 2048 || pg.num("memoryReservation") != 512 {
		t.Errorf("postgres memory %v / %v, want 2048 / 512", pg.num("memory"), pg.num("memoryReservation"))
	}
	if !strings.Contains(strings.Join(r.container("redis").strings("command"), " "), "--maxclients 20000") {
		t.Errorf("redis maxclients not overridden")
	}
	if len(r.backends()) != 3 {
		t.Errorf("%d backend containers, want 3", len(r.backends()))
	}
	env, _ := r.container("backend-3").env()
	for k, v := range map[string]string{
		"DRF_ANON_RATE":        "100/min",
		"DRF_USER_RATE":        "5000/hour",
		"CORS_ALLOWED_ORIGINS": "https://app.example.com",
		"SENTRY_ENVIRONMENT":   "production",
	} {
		if env[k] != v {
			t.Errorf("backend %s = %q, want %q", k, env[k], v)
		}
	}
	if got := r.container("traefik").str("cpus"); got != "1.5" {
		t.Errorf("traefik cpus = %q, want 1.5", got)
	}
}

// backend.env cannot replace a variable of the contract: the program's value
// would win, and the entry would be dropped without a word. Each refusal
// names the setting to use, and a secret's value is never echoed.
func TestExtraEnvCannotReplaceTheContract(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["backend"] = map[string]any{"image": "app:1", "env": map[string]any{"DB_HOST": "elsewhere", "SECRET_KEY": "plain-secret", "WEB_CONCURRENCY": "8", "SENTRY_ENVIRONMENT": "production"}}
	r := deploy(t, "production", cfg)
	if r.err == nil {
		t.Fatal("backend.env replaced the contract")
	}
	for _, want := range []string{
		`backend.env.DB_HOST: "elsewhere" cannot replace DB_HOST, which the program sets: the stack's Postgres server`,
		`backend.env.SECRET_KEY: cannot be set: SECRET_KEY is generated and kept secret in the stack's state (set rotation.secretKey`,
		`backend.env.WEB_CONCURRENCY: "8" cannot replace WEB_CONCURRENCY, a variable of the environment contract; set backend.workers instead`,
	} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, r.err)
		}
	}
	if strings.Contains(r.err.Error(), "plain-secret") || strings.Contains(r.err.Error(), "SENTRY_ENVIRONMENT") {
		t.Errorf("the error echoes a secret or refuses a variable of the user's own:\n%v", r.err)
	}
	if len(r.rec.regs) != 0 {
		t.Errorf("%d resources registered", len(r.rec.regs))
	}
}

// Every variable the backend receives has a source to name, and each source
// is a config key the program reads (or the program's own).
func TestEveryContractVariableNamesItsSource(t *testing.T) {
	env := backend.Env(backend.DefaultSettings(), backend.Endpoints{Site: site.Site{Domains: []string{"x"}}})
	for _, name := range append(slices.Collect(maps.Keys(env)), backend.EnvDatabasePassword, backend.EnvRedisPassword, backend.EnvSecretKey) {
		if _, ok := backend.ContractSources[name]; !ok {
			t.Errorf("%s has no entry in components.ContractSources", name)
		}
	}
	keys := map[string]bool{}
	for _, l := range leaves(t) {
		keys[l.key] = true
	}
	for name, source := range backend.ContractSources {
		kind, key, found := strings.Cut(source, ":")
		if !found {
			key = kind
		} else if kind == "program" {
			continue
		}
		if !keys[key] {
			t.Errorf("ContractSources[%s] = %q: %q is not a config key", name, source, key)
		}
	}
}

func TestBadConfigIsRefusedWithEveryProblemAndNothingRegistered(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["postgres"] = map[string]any{
		"tuning":      map[string]any{"sharedBuffers": "256 MB", "maxConections": 300},
		"healthcheck": map[string]any{"retries": "three"},
	}
	cfg["redis"] = map[string]any{"tuning": map[string]any{"maxMemory": 512}}
	cfg["backend"] = map[string]any{"image": "app:1", "drf": map[string]any{"anonRate": "1000/week"}, "replicas": 1.5}
	cfg["traefik"] = "fast"
	r := deploy(t, "production", cfg)
	if r.err == nil {
		t.Fatal("the program accepted bad config")
	}
	if n := len(r.rec.regs); n != 0 {
		t.Errorf("%d resources registered despite bad config", n)
	}
	msg := r.err.Error()
	for _, want := range []string{
		`postgres.tuning.sharedBuffers: "256 MB" is not a size (examples: 256MB, 1GB`,
		`postgres.tuning.maxConections: is not a setting; did you mean "maxConnections"?`,
		`postgres.healthcheck.retries: "three" is not a whole number`,
		`redis.tuning.maxMemory: "512" must be at least 1mb`, // 512 bytes, to Redis
		`backend.drf.anonRate: "1000/week" is not a rate`,
		`backend.replicas: 1.5 is not a whole number`,
		`traefik: "fast" is not an object of settings`,
		"7 problems",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestComponentChecksRunOnConfig(t *testing.T) {
	cases := []struct {
		key   string
		value map[string]any
		want  string
	}{
		{"postgres", map[string]any{"user": "App-User"}, `postgres.user: "App-User" is not a plain Postgres identifier`},
		{"postgres", map[string]any{"tuning": map[string]any{"extra": map[string]any{"Bad Name": "1"}}}, `postgres.tuning.extra.Bad Name:`},
		{"redis", map[string]any{"tuning": map[string]any{"maxMemoryPolicy": "lru"}}, `redis.tuning.maxMemoryPolicy: "lru" is not a maxmemory-policy`},
		{"redis", map[string]any{"tuning": map[string]any{"save": "60"}}, `redis.tuning.save: "60" is not a snapshot schedule`},
		{"redis", map[string]any{"tuning": map[string]any{"extra": map[string]any{"requirepass": "x"}}}, `redis.tuning.extra.requirepass:`},
		{"nginx", map[string]any{"gzip": map[string]any{"level": 12}}, `nginx.gzip.level: 12 is not a gzip level`},
		{"nginx", map[string]any{"static": map[string]any{"cacheControl": `public"; evil`}}, `nginx.static.cacheControl:`},
		{"traefik", map[string]any{"logLevel": "verbose"}, `traefik.logLevel: "verbose" is not a Traefik log level`},
		{"traefik", map[string]any{"restart": map[string]any{"condition": "sometimes"}}, `traefik.restart.condition: "sometimes" is not a restart condition`},
		{"domains", map[string]any{}, `domains: {} is not a list`},
	}
	for _, c := range cases {
		cfg := fixtureConfig(t, "production")
		if c.key != "backend" {
			cfg[c.key] = c.value
		}
		r := deploy(t, "production", cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%s = %v: error %v, want %q", c.key, c.value, r.err, c.want)
		}
		if len(r.rec.regs) != 0 {
			t.Errorf("%s = %v: %d resources registered", c.key, c.value, len(r.rec.regs))
		}
	}
}

func TestDomainsAreChecked(t *testing.T) {
	for _, bad := range [][]any{{}, {"https://example.com"}, {"example.com/app"}, {"example.com", "example.com"}, {"exa mple.com"}} {
		cfg := fixtureConfig(t, "production")
		cfg["domains"] = bad
		r := deploy(t, "production", cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), "domains") {
			t.Errorf("domains %v accepted: %v", bad, r.err)
		}
	}
}
