package tests

import (
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/problems"
)

// with returns the fixture config of a stack with one nested key set, the
// way `pulumi config set --path a.b.c value` would set it.
func with(t *testing.T, stack, path string, value any) map[string]any {
	t.Helper()
	return setPath(fixtureConfig(t, stack), path, value)
}

// TestBadInputsAreRefusedBeforeAnythingIsRegistered: each bad value is
// reported with its key and the value itself, and the program registers
// nothing.
func TestBadInputsAreRefusedBeforeAnythingIsRegistered(t *testing.T) {
	cases := []struct {
		path  string
		value any
		want  string // the error line must contain "<path>: " and this
		key   string // the key reported, when it is not path (an element of a list)
	}{
		// Sizes, each in its server's syntax.
		{"postgres.tuning.sharedBuffers", "256 MB", `"256 MB" is not a size (examples: 256MB, 1GB`, ""},
		{"postgres.tuning.effectiveCacheSize", "1gb", `"1gb" is not a size`, ""},
		{"postgres.tuning.workMem", 4, `"4" is not a size`, ""},
		{"redis.tuning.maxMemory", "512 mb", `"512 mb" is not a size (examples: 512mb, 1gb`, ""},
		{"backend.resources.limits.memory", "2 GB", `"2 GB" is not a size (examples: 512M, 1G`, ""},
		{"backend.resources.limits.memory", "2048", `"2048" is not a size`, ""},
		{"postgres.resources.limits.memory", "1.5T", `"1.5T" is not a size`, ""},
		{"nginx.clientMaxBodySize", "10 MB", `"10 MB" is not a size`, ""},
		{"backend.uploads.dataMaxMemorySize", "ten megabytes", `"ten megabytes" is not a size`, ""},
		{"redis.resources.limits.memory", "768.5M", `"768.5M" must be a whole number of MiB`, ""},
		// Durations.
		{"backend.healthcheck.interval", "30", `"30" is not a duration (examples: 10s`, ""},
		{"postgres.healthcheck.timeout", "5 s", `"5 s" is not a duration`, ""},
		{"traefik.respondingTimeouts.read", "1 minute", `"1 minute" is not a duration`, ""},
		{"nginx.static.expires", "1 year", `"1 year" is not a duration`, ""},
		{"backend.database.connMaxAge", "-5s", `"-5s" is not a duration`, ""},
		{"redis.tuning.tcpKeepalive", "300", `"300" is not a duration`, ""},
		// DRF rates.
		{"backend.drf.anonRate", "1000/week", `"1000/week" is not a rate (examples: 1000/hour`, ""},
		{"backend.drf.userRate", "lots", `"lots" is not a rate`, ""},
		{"backend.drf.anonRate", "1000", `"1000" is not a rate`, ""},
		// CPU counts.
		{"backend.resources.limits.cpus", "two", `"two" is not a CPU count (examples: 0.5, 1.5, 2.0`, ""},
		{"redis.resources.reservations.cpus", "-1", `"-1" is not a CPU count`, ""},
		{"postgres.resources.limits.cpus", "1.555", `"1.555" is not a CPU count`, ""},
		// Ports.
		{"traefik.httpPort", 70000, `70000 is not a port (1-65535)`, ""},
		{"traefik.httpsPort", 0, `0 is not a port`, ""},
		{"backend.port", -1, `-1 is not a port`, ""},
		{"traefik.metrics.port", "eighty", `"eighty" is not a whole number`, ""},
		{"traefik.bindAddress", "localhost", `"localhost" is not an IP address`, ""},
		// Domains.
		{"domains", []any{"https://example.com"}, `"https://example.com" is not a domain name (e.g. example.com; no scheme, port or path)`, "domains[0]"},
		{"domains", []any{"example.com/app"}, `"example.com/app" is not a domain name`, "domains[0]"},
		{"domains", []any{"exa mple.com"}, `"exa mple.com" is not a domain name`, "domains[0]"},
		{"domains", []any{}, `must list the site's domains`, ""},
		// CORS origins.
		{"backend.cors.allowedOrigins", []any{"https://example.com/"}, `"https://example.com/" is not an origin (scheme and host, optional port; no path or trailing slash`, "backend.cors.allowedOrigins[0]"},
		{"backend.cors.allowedOrigins", []any{"example.com"}, `"example.com" is not an origin`, "backend.cors.allowedOrigins[0]"},
		{"backend.cors.allowedOrigins", []any{"https://example.com/app"}, `"https://example.com/app" is not an origin`, "backend.cors.allowedOrigins[0]"},
		{"backend.cors.allowedOrigins", []any{"ftp://example.com"}, `"ftp://example.com" is not an origin`, "backend.cors.allowedOrigins[0]"},
		{"backend.cors.allowedOrigins", []any{"https://example.com:99999"}, `"https://example.com:99999" is not an origin`, "backend.cors.allowedOrigins[0]"},
		// Image references: malformed anywhere, unpinned in production.
		{"backend.image", "registry.example.com/app", `"registry.example.com/app" is not pinned`, ""},
		{"backend.image", "app:latest", `"app:latest" is not pinned`, ""},
		{"backend.image", "App:1.0", `"App:1.0" is not an image reference`, ""},
		{"postgres.image", "postgres:16 alpine", `"postgres:16 alpine" is not an image reference`, ""},
		{"traefik.image", "traefik", `"traefik" is not pinned`, ""},
		// Keys and types.
		{"postgres.tuning.maxConections", 300, `is not a setting; did you mean "maxConnections"?`, ""},
		{"backend.replicas", 1.5, `1.5 is not a whole number`, ""},
		{"tls", "yes", `"yes" is not true or false`, ""},
		{"redis.tuning.appendOnly", "maybe", `"maybe" is not true or false`, ""},
		{"nginx.gzip.types", "text/css", `"text/css" is not a list`, ""},
		{"backend.env", []any{"A=1"}, `["A=1"] is not an object of name: value pairs`, ""},
		// What no server accepts.
		{"postgres.resources.reservations.memory", "2G", `"2G" is above the memory limit "1G"`, ""},
		{"postgres.healthcheck.retries", 0, `0 must be at least 1`, ""},
		{"backend.healthcheck.startInterval", "45s", `"45s" must be at least 1ms and at most the interval "30s" (or 0, unset)`, ""},
		{"redis.tuning.maxMemoryPolicy", "lru", `"lru" is not a maxmemory-policy`, ""},
		// Production guardrails.
		{"backend.cors.allowAllOrigins", true, `true lets every website call the API`, ""},
		{"backend.cors.allowedOrigins", []any{"http://example.com"}, `"http://example.com" is not https`, "backend.cors.allowedOrigins[0]"},
		{"tls", false, `false serves the site, its session cookies and its CSRF tokens over plain http`, ""},
		{"keepData", false, "false lets `pulumi destroy`", ""},
		{"backend.resources.reservations.cpus", "3.0", `"3.0" is above the limit "2.0"`, ""},
		{"host.cpus", 2, `"2" is less than the 4.2 CPUs the containers reserve (postgres 1.0, redis 0.5, backend 2 x 1.0, nginx 0.25, traefik 0.25, traefik.dockerApi 0.1, backup 0.1)`, ""},
		{"host.memory", "2G", `"2G" is less than the 3280M the containers reserve`, ""},
		{"redis.tuning.maxMemory", "700mb", `"700mb" leaves 68 MiB of the "768M" container limit; keep maxmemory at most two thirds of the limit`, ""},
		{"postgres.tuning.sharedBuffers", "512MB", `"512MB" is 50% of the "1G" memory limit; keep it at most 40%`, ""},
		{"postgres.tuning.effectiveCacheSize", "2GB", `"2GB" is above the "1G" memory limit`, ""},
		{"postgres.tuning.maxParallelWorkers", 16, `16 is above max_worker_processes (8)`, ""},
		{"postgres.tuning.maxConnections", 10, `10 is below what the backends can hold open: 2 replicas x 4 workers x 1 persistent connection each (CONN_MAX_AGE=600) + 3 reserved = 11`, ""},
		{"backend.healthcheck.timeout", "30s", `"30s" is not below the interval "30s"`, ""},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	for _, c := range cases {
		key := c.key
		if key == "" {
			key = c.path
		}
		r := deploy(t, "production", with(t, "production", c.path, c.value))
		switch {
		case r.err == nil:
			t.Errorf("%s = %#v was accepted", c.path, c.value)
		case !hasLine(r.err.Error(), key+": ", c.want):
			t.Errorf("%s = %#v: error does not say %q at its key:\n%v", c.path, c.value, c.want, r.err)
		}
		if n := len(r.rec.regs); n != 0 {
			t.Errorf("%s = %#v: %d resources registered", c.path, c.value, n)
		}
	}
}

// Every guardrail, with a value that breaks it and one at its boundary that
// does not: an error in production, a warning in staging, nothing when kept.
func TestGuardrails(t *testing.T) {
	cases := []struct {
		rule    string
		key     string
		path    string
		breaks  any
		keeps   any
		advises bool // a warning even in production
	}{
		{"cors", "backend.cors.allowAllOrigins", "backend.cors.allowAllOrigins", true, false, false},
		{"cors", "backend.cors.allowedOrigins[0]", "backend.cors.allowedOrigins", []any{"http://example.com"}, []any{"https://example.com"}, false},
		{"tls", "tls", "tls", false, true, false},
		{"pinned-images", "backend.image", "backend.image", "registry.example.com/django-app:latest", "registry.example.com/django-app@sha256:" + strings.Repeat("a", 64), false},
		{"limits-cover-reservations", "nginx.resources.reservations.cpus", "nginx.resources.limits.cpus", "0.2", "0.25", false},
		{"reservations-fit-host", "host.cpus", "host.cpus", "4.15", "4.2", false},
		{"reservations-fit-host", "host.memory", "host.memory", "3279M", "3280M", false},
		{"healthcheck-timing", "redis.healthcheck.timeout", "redis.healthcheck.timeout", "10s", "9s", false},
		{"redis-headroom", "redis.tuning.maxMemory", "redis.tuning.maxMemory", "513mb", "512mb", false},
		{"postgres-memory", "postgres.tuning.sharedBuffers", "postgres.tuning.sharedBuffers", "410MB", "409MB", false},
		{"postgres-memory", "postgres.tuning.effectiveCacheSize", "postgres.tuning.effectiveCacheSize", "1025MB", "1GB", false},
		{"postgres-workers", "postgres.tuning.maxParallelWorkers", "postgres.tuning.maxParallelWorkers", 9, 8, false},
		{"postgres-connections", "postgres.tuning.maxConnections", "postgres.tuning.maxConnections", 10, 11, false},
		{"postgres-work-mem", "postgres.tuning.workMem", "postgres.tuning.workMem", "6MB", "5MB", true},
	}
	for _, c := range cases {
		// Production: an error, or an advisory warning.
		r := deploy(t, "production", with(t, "production", c.path, c.breaks))
		if c.advises {
			if r.err != nil || !hasKey(r.warnings, c.key) {
				t.Errorf("%s: production %s = %v: want a warning at %s, got error %v, warnings %v", c.rule, c.path, c.breaks, c.key, r.err, r.warnings)
			}
		} else if r.err == nil || !strings.Contains(r.err.Error(), c.key+": ") {
			t.Errorf("%s: production %s = %v: want an error at %s, got %v", c.rule, c.path, c.breaks, c.key, r.err)
		}
		// Staging: the same finding is a warning, and the stack deploys.
		staging := with(t, "staging", c.path, c.breaks)
		if strings.HasPrefix(c.key, "host.") || strings.HasPrefix(c.key, "postgres.") || strings.HasPrefix(c.key, "redis.") {
			// Staging's own numbers differ: break the rule with production's.
			staging = with(t, "staging", "host.cpus", "4.0")
			staging = setPath(staging, "host.memory", "8G")
			for _, k := range []string{"postgres", "redis", "backend"} {
				staging[k] = productionSizes(k, staging[k])
			}
			staging = setPath(staging, c.path, c.breaks)
		}
		r = deploy(t, "staging", staging)
		if r.err != nil || !hasKey(r.warnings, c.key) {
			t.Errorf("%s: staging %s = %v: want a warning at %s, got error %v, warnings %v", c.rule, c.path, c.breaks, c.key, r.err, r.warnings)
		}
		// The boundary value keeps the rule.
		r = deploy(t, "production", with(t, "production", c.path, c.keeps))
		if r.err != nil || hasKey(r.warnings, c.key) {
			t.Errorf("%s: production %s = %v should pass: error %v, warnings %v", c.rule, c.path, c.keeps, r.err, r.warnings)
		}
	}
}

// productionSizes gives a staging config production's resources and tuning
// for one component, so a guardrail's boundary is the same in both stacks.
func productionSizes(component string, current any) map[string]any {
	m, _ := current.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	switch component {
	case "postgres":
		m["resources"] = map[string]any{"limits": map[string]any{"cpus": "2.0", "memory": "1G"}, "reservations": map[string]any{"cpus": "1.0", "memory": "512M"}}
		m["tuning"] = map[string]any{"sharedBuffers": "256MB", "effectiveCacheSize": "1GB", "maxConnections": 200, "maxParallelWorkers": 4}
	case "redis":
		m["resources"] = map[string]any{"limits": map[string]any{"cpus": "1.0", "memory": "768M"}, "reservations": map[string]any{"cpus": "0.5", "memory": "512M"}}
		m["tuning"] = map[string]any{"maxMemory": "512mb"}
	case "backend":
		m["replicas"] = 2
		m["workers"] = 4
		m["resources"] = map[string]any{"limits": map[string]any{"cpus": "2.0", "memory": "2G"}, "reservations": map[string]any{"cpus": "1.0", "memory": "1G"}}
	}
	return m
}

// setPath sets a nested key in a config map built by with.
func setPath(cfg map[string]any, path string, value any) map[string]any {
	keys := strings.Split(path, ".")
	node := cfg
	for _, k := range keys[:len(keys)-1] {
		next, _ := node[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
		}
		node[k] = next
		node = next
	}
	node[keys[len(keys)-1]] = value
	return cfg
}

func hasKey(ps problems.Problems, key string) bool {
	return slices.ContainsFunc(ps, func(p problems.Problem) bool { return p.Key == key })
}

// Kept data is production's promise alone: staging and its clones are built
// to be destroyed, so they neither warn nor fail without it.
func TestKeepDataIsProductionsGuardrail(t *testing.T) {
	r := deploy(t, "production", with(t, "production", "keepData", false))
	if r.err == nil || !strings.Contains(r.err.Error(), "keepData: false lets `pulumi destroy`") {
		t.Errorf("production without kept data: %v", r.err)
	}
	for _, stack := range []string{"staging", "pr-42"} {
		if r := deployOK(t, stack, fixtureConfig(t, "staging")); hasKey(r.warnings, "keepData") {
			t.Errorf("%s warns about keepData", stack)
		}
	}
}

func TestShippedConfigsPassWithoutWarnings(t *testing.T) {
	for stack, cfg := range map[string]map[string]any{
		"production": fixtureConfig(t, "production"),
		"staging":    fixtureConfig(t, "staging"),
		"local":      localConfig(t),
	} {
		r := deployOK(t, stack, cfg)
		if len(r.warnings) != 0 {
			t.Errorf("%s warns: %v", stack, r.warnings)
		}
	}
}

// Local publishes on the loopback interface only, so the guardrails of a
// public site (TLS, https origins, pinned images) do not apply;
// published on every interface, they do again.
func TestLocalSkipsPublicGuardrailsOnlyOnLoopback(t *testing.T) {
	cfg := localConfig(t)
	cfg["backend"] = map[string]any{"image": "my-django-app:latest"}
	if r := deployOK(t, "local", cfg); len(r.warnings) != 0 {
		t.Errorf("local on loopback warns: %v", r.warnings)
	}
	cfg["traefik"] = map[string]any{"bindAddress": "0.0.0.0"}
	r := deployOK(t, "local", cfg)
	for _, key := range []string{"tls", "backend.image", "backend.cors.allowedOrigins[0]"} {
		if !hasKey(r.warnings, key) {
			t.Errorf("local on every interface does not warn about %s: %v", key, r.warnings)
		}
	}
}

// hasLine reports whether one line of an error starts with prefix and contains want.
func hasLine(err, prefix, want string) bool {
	for _, line := range strings.Split(err, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, prefix) && strings.Contains(line, want) {
			return true
		}
	}
	return false
}
