package tests

import (
	"github.com/djangostack/infra/components/runtime"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The guide's environment contract with production's values.
var productionContract = map[string]string{
	"DB_HOST":                       "django-stack-production-postgres",
	"DB_PORT":                       "5432",
	"DB_NAME":                       "app",
	"DB_USER":                       "app",
	"DB_CONN_MAX_AGE":               "600",
	"DB_CONNECT_TIMEOUT":            "10",
	"DB_STATEMENT_TIMEOUT":          "30000",
	"DB_KEEPALIVES_IDLE":            "30",
	"DB_KEEPALIVES_INTERVAL":        "10",
	"DB_KEEPALIVES_COUNT":           "5",
	"CORS_ALLOWED_ORIGINS":          "https://example.com,https://www.example.com",
	"CORS_ALLOW_ALL_ORIGINS":        "False",
	"CORS_PREFLIGHT_MAX_AGE":        "86400",
	"REDIS_HOST":                    "django-stack-production-redis",
	"REDIS_PORT":                    "6379",
	"REDIS_DB":                      "0",
	"REDIS_CHANNEL_CAPACITY":        "1000",
	"REDIS_CHANNEL_EXPIRY":          "60",
	"REDIS_MAX_CONNECTIONS":         "50",
	"USE_REDIS_CACHE":               "True",
	"DRF_PAGE_SIZE":                 "20",
	"DRF_ANON_RATE":                 "1000/hour",
	"DRF_USER_RATE":                 "5000/hour",
	"DATA_UPLOAD_MAX_MEMORY_SIZE":   "10485760",
	"DATA_UPLOAD_MAX_NUMBER_FIELDS": "1000",
	"FILE_UPLOAD_MAX_MEMORY_SIZE":   "10485760",
	"USE_TLS":                       "True",
	"HSTS_SECONDS":                  "31536000",
	"HSTS_INCLUDE_SUBDOMAINS":       "True",
	"HSTS_PRELOAD":                  "True",
	"TRUSTED_PROXIES":               "django-stack-production-traefik",
	"TRUSTED_PROXY_HOPS":            "1",
	"ALLOWED_HOSTS":                 "example.com,www.example.com",
	"CSRF_TRUSTED_ORIGINS":          "https://example.com,https://www.example.com",
	"RUN_MIGRATIONS":                "False",
	"WEB_CONCURRENCY":               "4",
	"STATIC_ROOT":                   "/srv/static",
	"MEDIA_ROOT":                    "/srv/media",
	// Generated secrets are files, named by NAME_FILE (productionSecrets).
	"DB_PASSWORD_FILE":    "/run/secrets/db_password",
	"REDIS_PASSWORD_FILE": "/run/secrets/redis_password",
	"SECRET_KEY_FILE":     "/run/secrets/secret_key",
}

// The generated secrets, as the mock generates them: each reaches the
// backend as a secret file, never in its environment.
var productionSecrets = map[string]string{
	"DB_PASSWORD":    "mock-secrets-postgres-password",
	"REDIS_PASSWORD": "mock-secrets-redis-password",
	"SECRET_KEY":     "mock-secrets-django-secret-key",
}

func TestBackendHonoursTheEnvironmentContract(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	for _, name := range []string{"backend-1", "backend-2", "migrate"} {
		c := r.container(name)
		env, secret := c.env()
		for k, want := range productionContract {
			if env[k] != want {
				t.Errorf("%s %s = %q, want %q", name, k, env[k], want)
			}
		}
		for k := range env {
			if _, known := productionContract[k]; !known {
				t.Errorf("%s has %s, which the contract does not list", name, k)
			}
			if secret[k] {
				t.Errorf("%s %s is a secret in the environment; secrets are files", name, k)
			}
		}
		for k, want := range productionSecrets {
			value, isSecret, ok := c.secretFile(k)
			if !ok || value != want || !isSecret {
				t.Errorf("%s: %s_FILE gives %q (uploaded %v, secret %v), want the secret %q", name, k, value, ok, isSecret, want)
			}
		}
	}
}

func TestBackendContainers(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	backends := r.backends()
	if len(backends) != 2 {
		t.Fatalf("production has %d backend containers, want the guide's 2 replicas", len(backends))
	}
	for _, c := range backends {
		assertRuntime(t, c.Name, c, guideRuntime{
			cpus: "2.0", memoryMiB: 2048, reservationMiB: 1024, cpuShares: 1024,
			interval: "30s", timeout: "10s", startPeriod: "1m0s", retries: 3,
			healthTest: []string{"CMD", "python3", "-c",
				`import sys, urllib.request as u; r = u.urlopen(u.Request("http://127.0.0.1:8000/api/", headers={"Host": "example.com", "X-Forwarded-Proto": "https"}), timeout=10); sys.exit(0 if r.status == 200 else 1)`},
		})
		if got := c.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-data", "django-stack-production-edge"}) {
			t.Errorf("%s networks = %v, want edge and data", c.Name, got)
		}
		if got := c.str("image"); got != "sha256:backend-image" {
			t.Errorf("%s image = %q, want the pulled image's id", c.Name, got)
		}
		// Created once Postgres accepts the stack's password (the password
		// step, which waits for the server), not once the Postgres and
		// Redis containers are seen healthy, one probe interval after their
		// start: the update waits for those alongside.
		if !dependsOn(c, "Postgres$docker:index/container:Container::"+r.container("postgres-password").Name) {
			t.Errorf("%s does not wait for the password step: %v", c.Name, c.DependsOn)
		}
		for _, server := range []string{"Postgres$docker:index/container:Container::postgres", "Redis$docker:index/container:Container::redis"} {
			if dependsOn(c, server) {
				t.Errorf("%s waits for %s to be healthy before it starts", c.Name, server)
			}
		}
	}
	// One after the other: a release then stops the old ones in turn (the
	// engine deletes in the reverse order of dependencies), each leaving
	// Traefik's rotation before the next stops.
	if !slices.ContainsFunc(backends[1].DependsOn, func(u resourceURN) bool { return u == backends[0].URN }) {
		t.Errorf("%s does not depend on %s: the old replicas would stop at once", backends[1].Name, backends[0].Name)
	}
	if img := r.get(typeRemoteImage, "backend-image"); img.str("name") != "registry.example.com/django-app:1.0.0" {
		t.Errorf("backend image = %q, want the configured one", img.str("name"))
	}
}

func TestBackendTraefikLabels(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	const router = "traefik.http.routers.django-stack-production-backend."
	const service = "traefik.http.services.django-stack-production-backend.loadbalancer."
	const wsRouter = "traefik.http.routers.django-stack-production-backend-ws."
	const wsService = "traefik.http.services.django-stack-production-backend-ws.loadbalancer."
	want := map[string]string{
		"traefik.enable":                                  "true",
		router + "rule":                                   "Host(`example.com`) || Host(`www.example.com`)",
		router + "entrypoints":                            "websecure",
		router + "tls":                                    "true",
		router + "tls.certresolver":                       "letsencrypt",
		router + "middlewares":                            "security-headers@file,retry@file",
		router + "service":                                "django-stack-production-backend",
		router + "priority":                               "1",
		service + "server.port":                           "8000",
		service + "healthcheck.path":                      "/api/",
		service + "healthcheck.interval":                  "5s",
		service + "healthcheck.timeout":                   "3s",
		service + "healthcheck.hostname":                  "example.com",
		service + "healthcheck.headers.X-Forwarded-Proto": "https",
		// Websockets go to the websocket server of the same containers,
		// judged by the health of their HTTP server.
		wsRouter + "rule":                                   "(Host(`example.com`) || Host(`www.example.com`)) && PathPrefix(`/ws/`)",
		wsRouter + "entrypoints":                            "websecure",
		wsRouter + "tls":                                    "true",
		wsRouter + "tls.certresolver":                       "letsencrypt",
		wsRouter + "middlewares":                            "security-headers@file",
		wsRouter + "service":                                "django-stack-production-backend-ws",
		wsRouter + "priority":                               "50",
		wsService + "server.port":                           "8001",
		wsService + "healthcheck.path":                      "/api/",
		wsService + "healthcheck.port":                      "8000",
		wsService + "healthcheck.interval":                  "5s",
		wsService + "healthcheck.timeout":                   "3s",
		wsService + "healthcheck.hostname":                  "example.com",
		wsService + "healthcheck.headers.X-Forwarded-Proto": "https",
		"djangostack.project":                               "django-stack",
		"djangostack.stack":                                 "production",
		"djangostack.component":                             "backend",
	}
	for _, name := range []string{"backend-1", "backend-2"} {
		got := r.container(name).labels()
		delete(got, runtime.FilesLabel) // the id of its files' writer
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s labels:\n got %v\nwant %v", name, got, want)
		}
	}
}

func TestBackendImageIsRequiredOutsideLocal(t *testing.T) {
	for _, stack := range []string{"production", "staging", "pr-42"} {
		cfg := fixtureConfig(t, "staging")
		delete(cfg, "backend")
		r := deploy(t, stack, cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), "backend.image: must be set") {
			t.Errorf("%s without a backend image: %v, want an error naming backend.image", stack, r.err)
		}
		if len(r.rec.regs) != 0 {
			t.Errorf("%s without a backend image registered %d resources", stack, len(r.rec.regs))
		}
	}
}

func TestLocalBuildsTheReferenceBackend(t *testing.T) {
	r := deployOK(t, "local", fixtureConfig(t, "local"))
	build := r.get(typeImage, "backend-build")
	want := map[string]any{
		"imageName": "django-stack-local-backend:local",
		"skipPush":  true,
		"build":     map[string]any{"context": "examples/backend", "dockerfile": "examples/backend/Dockerfile"},
	}
	for k, v := range want {
		if got := build.input(k); !reflect.DeepEqual(got, v) {
			t.Errorf("backend build %s = %#v, want %#v", k, got, v)
		}
	}
	if got := r.container("backend-1").str("image"); got != "sha256:built-backend-build" {
		t.Errorf("the local backend runs %q, want the built image's id", got)
	}
	if len(r.all(typeRemoteImage)) != 5 {
		t.Errorf("local pulls %d images, want 5: postgres, redis, nginx, traefik, its Docker API proxy (no backend pull)", len(r.all(typeRemoteImage)))
	}

	// An image of your own replaces the build.
	cfg := fixtureConfig(t, "local")
	cfg["backend"] = map[string]any{"image": "my-django-app:dev"}
	r = deployOK(t, "local", cfg)
	if len(r.all(typeImage)) != 0 || r.get(typeRemoteImage, "backend-image").str("name") != "my-django-app:dev" {
		t.Errorf("a configured local image is not pulled in place of the build")
	}
}

func TestProductionRefusesALocalBuild(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["backend"] = map[string]any{"image": "", "build": map[string]any{"context": "examples/backend"}}
	r := deploy(t, "production", cfg)
	if r.err == nil || !strings.Contains(r.err.Error(), `backend.build.context: "examples/backend" builds the backend on the machine running Pulumi`) {
		t.Errorf("production with a local build: %v", r.err)
	}
}
