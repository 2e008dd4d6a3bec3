package tests

import (
	"reflect"
	"strings"
	"testing"
)

// guideRuntime is what every container of the guide carries, written out with the
// guide's literal values so that a changed default fails here.
type guideRuntime struct {
	cpus              string
	memoryMiB         float64
	reservationMiB    float64
	cpuShares         float64
	interval, timeout string
	startPeriod       string
	retries           float64
	healthTest        []string
}

func assertRuntime(t *testing.T, name string, c *Registration, want guideRuntime) {
	t.Helper()
	checks := []struct {
		what      string
		got, want any
	}{
		{"cpus (limit)", c.str("cpus"), want.cpus},
		{"memory limit, MiB", c.num("memory"), want.memoryMiB},
		// Set, and to the limit: no swap, and Docker's doubled default
		// would read back as a change on every preview.
		{"memory + swap limit, MiB", c.num("memorySwap"), want.memoryMiB},
		{"memory reservation, MiB", c.num("memoryReservation"), want.reservationMiB},
		{"cpu shares (CPU reservation x 1024)", c.num("cpuShares"), want.cpuShares},
		{"restart", c.str("restart"), "on-failure"},
		{"max retry count", c.num("maxRetryCount"), 3.0},
		{"log driver", c.str("logDriver"), "json-file"},
		{"log options", c.input("logOpts"), map[string]any{"max-size": "10m", "max-file": "5"}},
		{"healthcheck interval", asMap(c.input("healthcheck"))["interval"], want.interval},
		{"healthcheck timeout", asMap(c.input("healthcheck"))["timeout"], want.timeout},
		{"healthcheck start period", asMap(c.input("healthcheck"))["startPeriod"], want.startPeriod},
		{"healthcheck retries", asMap(c.input("healthcheck"))["retries"], want.retries},
		{"wait until healthy", c.input("wait"), true},
	}
	for _, check := range checks {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("%s %s = %#v, want %#v", name, check.what, check.got, check.want)
		}
	}
	if want.healthTest != nil {
		var got []string
		for _, s := range asSlice(asMap(c.input("healthcheck"))["tests"]) {
			got = append(got, s.(string))
		}
		if !reflect.DeepEqual(got, want.healthTest) {
			t.Errorf("%s healthcheck test = %q, want %q", name, got, want.healthTest)
		}
	}
	// The wait must outlast the healthcheck's own verdict.
	if c.num("waitTimeout") < 60 {
		t.Errorf("%s waits only %vs to become healthy", name, c.num("waitTimeout"))
	}
}

func TestPostgresCarriesTheGuide(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	pg := r.container("postgres")

	wantCommand := []string{"postgres",
		"-c", "shared_buffers=256MB",
		"-c", "effective_cache_size=1GB",
		"-c", "max_connections=200",
		"-c", "work_mem=4MB",
		"-c", "checkpoint_completion_target=0.9",
		"-c", "max_parallel_workers=4",
	}
	if got := pg.strings("command"); !reflect.DeepEqual(got, wantCommand) {
		t.Errorf("postgres command = %q\nwant %q", got, wantCommand)
	}
	if got := pg.str("image"); got != "sha256:postgres-image" {
		t.Errorf("postgres runs image %q, want the pulled image's id", got)
	}
	if img := r.get(typeRemoteImage, "postgres-image"); img.str("name") != "postgres:16-alpine" {
		t.Errorf("postgres image = %q, want postgres:16-alpine", img.str("name"))
	}
	assertRuntime(t, "postgres", pg, guideRuntime{
		cpus: "2.0", memoryMiB: 1024, reservationMiB: 512, cpuShares: 1024,
		interval: "10s", timeout: "5s", startPeriod: "10s", retries: 5,
		healthTest: []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "app", "-d", "app"},
	})

	env, _ := pg.env()
	wantEnv := map[string]string{
		"POSTGRES_DB": "app", "POSTGRES_USER": "app",
		"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password", "PGDATA": "/var/lib/postgresql/data",
	}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("postgres env = %v, want %v (the password only as a file)", env, wantEnv)
	}
	content, secret, ok := pg.upload("/run/secrets/postgres-password")
	if !ok || content != "mock-secrets-postgres-password" || !secret {
		t.Errorf("postgres password file = %q, secret %v, present %v; want the generated password, secret", content, secret, ok)
	}
	if got := pg.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-data"}) {
		t.Errorf("postgres networks = %v, want only the data network", got)
	}
	if pg.input("ports") != nil && len(asSlice(pg.input("ports"))) > 0 {
		t.Errorf("postgres publishes ports %v", pg.input("ports"))
	}
	if got := pg.num("shmSize"); got != 256 {
		t.Errorf("postgres /dev/shm = %v MiB, want 256", got)
	}
}

func TestPostgresExtraSettingsFollowTheGuidesOnes(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg["postgres"] = map[string]any{"tuning": map[string]any{
		"maxConnections": 300,
		"extra":          map[string]any{"log_min_duration_statement": "500ms", "jit": "off"},
	}}
	pg := deployOK(t, "production", cfg).container("postgres")
	got := strings.Join(pg.strings("command"), " ")
	want := "postgres -c shared_buffers=256MB -c effective_cache_size=1GB -c max_connections=300 -c work_mem=4MB" +
		" -c checkpoint_completion_target=0.9 -c max_parallel_workers=4 -c jit=off -c log_min_duration_statement=500ms"
	if got != want {
		t.Errorf("command = %s\nwant      %s", got, want)
	}
}

func TestRedisCarriesTheGuide(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	rd := r.container("redis")
	wantCommand := []string{"redis-server", "/run/secrets/redis-auth.conf",
		"--maxmemory", "512mb",
		"--maxmemory-policy", "allkeys-lru",
		"--save", "60", "1000",
		"--appendonly", "yes",
		"--tcp-keepalive", "300",
		"--maxclients", "10000",
	}
	if got := rd.strings("command"); !reflect.DeepEqual(got, wantCommand) {
		t.Errorf("redis command = %q\nwant %q", got, wantCommand)
	}
	if img := r.get(typeRemoteImage, "redis-image"); img.str("name") != "redis:7-alpine" {
		t.Errorf("redis image = %q, want redis:7-alpine", img.str("name"))
	}
	assertRuntime(t, "redis", rd, guideRuntime{
		cpus: "1.0", memoryMiB: 768, reservationMiB: 512, cpuShares: 512,
		interval: "10s", timeout: "3s", startPeriod: "5s", retries: 5,
	})
	test := strings.Join(asStrings(asMap(rd.input("healthcheck"))["tests"]), " ")
	for _, part := range []string{"CMD-SHELL", "REDISCLI_AUTH=", "/run/secrets/redis-auth.conf", "redis-cli", "ping", "PONG"} {
		if !strings.Contains(test, part) {
			t.Errorf("redis healthcheck %q lacks %q: it must ping with the password", test, part)
		}
	}
	conf, secret, ok := rd.upload("/run/secrets/redis-auth.conf")
	if !ok || conf != "requirepass mock-secrets-redis-password\n" || !secret {
		t.Errorf("redis auth.conf = %q, secret %v, present %v", conf, secret, ok)
	}
	env, _ := rd.env()
	for k, v := range env {
		if strings.Contains(v, "mock-secrets") {
			t.Errorf("redis env %s carries the password", k)
		}
	}
	if got := rd.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-data"}) {
		t.Errorf("redis networks = %v, want only the data network", got)
	}
	if len(asSlice(rd.input("ports"))) > 0 {
		t.Errorf("redis publishes ports %v", rd.input("ports"))
	}
	nofile := asMap(asSlice(rd.input("ulimits"))[0])
	// maxclients + 32, and no more: a daemon started by hand may allow only
	// 20000, and a container asking for more does not start.
	if nofile["name"] != "nofile" || nofile["soft"].(float64) != 10032 || nofile["hard"].(float64) != 10032 {
		t.Errorf("redis open-files limit %v, want soft and hard 10032 (maxclients 10000 + 32)", nofile)
	}
	fewer := deployOK(t, "production", with(t, "production", "redis.tuning.maxClients", 5000))
	if got := asMap(asSlice(fewer.container("redis").input("ulimits"))[0])["soft"]; got != 5032.0 {
		t.Errorf("with maxClients 5000 the open-files limit is %v, want 5032", got)
	}
}

func asStrings(v any) []string {
	var out []string
	for _, e := range asSlice(v) {
		out = append(out, e.(string))
	}
	return out
}
