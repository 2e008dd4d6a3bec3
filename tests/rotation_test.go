package tests

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestTheDatabaseGetsTheStacksPasswordBeforeAnythingLogsIn(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	pg := r.container("postgres")
	mounted := false
	for _, v := range asSlice(pg.input("volumes")) {
		m := asMap(v)
		mounted = mounted || (m["volumeName"] == "django-stack-production-postgres-socket" && m["containerPath"] == "/var/run/postgresql")
	}
	if !mounted {
		t.Errorf("postgres's socket directory is not in its volume: %v", pg.input("volumes"))
	}

	step := r.container("postgres-password")
	script := strings.Join(step.strings("command"), " ")
	for _, part := range []string{"sh -c", "psql", `ALTER ROLE :"role" PASSWORD :'password'`, "cat /run/secrets/postgres-password",
		`ALTER ROLE :"superuser" PASSWORD :'superuser_password'`, "cat /run/secrets/postgres-superuser-password"} {
		if !strings.Contains(script, part) {
			t.Errorf("the password step lacks %q:\n%s", part, script)
		}
	}
	for file, password := range map[string]string{
		"/run/secrets/postgres-password":           "mock-secrets-postgres-password",
		"/run/secrets/postgres-superuser-password": "mock-secrets-postgres-superuser-password",
	} {
		if content, secret, ok := step.upload(file); !ok || !secret || content != password {
			t.Errorf("the password step's password file %s: %q secret %v present %v", file, content, secret, ok)
		}
	}
	// It speaks to the server's socket, as the superuser.
	if env, _ := step.env(); env["PGHOST"] != "/var/run/postgresql" || env["POSTGRES_SUPERUSER"] != "postgres" || env["POSTGRES_USER"] != "app" {
		t.Errorf("the password step's environment: %v", env)
	}
	// The server itself never gets the superuser's password.
	if _, _, ok := pg.upload("/run/secrets/postgres-superuser-password"); ok {
		t.Errorf("the Postgres container holds the superuser's password")
	}
	if step.str("networkMode") != "none" || step.input("attach") != true || step.str("restart") != "no" {
		t.Errorf("the password step is not a one-shot with no network: networkMode %q attach %v", step.str("networkMode"), step.input("attach"))
	}
	// It waits for the server itself, not for its container's first
	// healthcheck: that comes one 10 s interval after the start of a server
	// ready in about 2 (the server's own wait is proven on a real Postgres).
	if dependsOn(step, "Postgres$docker:index/container:Container::postgres") {
		t.Errorf("the password step waits for Postgres's container to be healthy: %v", step.DependsOn)
	}
	for _, part := range []string{"current_setting('listen_addresses') <> ''", "deadline=$(( $(date +%s) + 100 ))", "not accepting connections 100 s after the step began"} {
		if !strings.Contains(script, part) {
			t.Errorf("the password step does not wait for the server (%q):\n%s", part, script)
		}
	}
	for _, c := range append(r.backends(), r.container("migrate")) {
		if !dependsOn(c, "Postgres$docker:index/container:Container::"+step.Name) {
			t.Errorf("%s starts before the database has the stack's password", c.Name)
		}
	}
}

func TestAFailedPasswordStepStopsTheUpdate(t *testing.T) {
	rec := newRecorder("production")
	rec.failJob = "postgres-password"
	rec.jobLogs = `psql: error: role "app" does not exist`
	r := deployWith(t, rec, fixtureConfig(t, "production"))
	if r.err == nil || !strings.Contains(r.err.Error(), "setting the database password failed (exit 1)") || !strings.Contains(r.err.Error(), `role "app" does not exist`) {
		t.Errorf("a failed password step: %v", r.err)
	}
	if n := len(r.backends()); n != 0 {
		t.Errorf("%d backend containers registered", n)
	}
}

func TestRotatingASecretRegeneratesItAndRollsTheBackend(t *testing.T) {
	before := deployOK(t, "production", fixtureConfig(t, "production"))
	after := deployAfter(t, before, with(t, "production", "rotation.postgres", "2026-11"))
	if after.err != nil {
		t.Fatal(after.err)
	}
	keepers := func(r *run, name string) any { return r.get(typeRandomPassword, name).input("keepers") }
	if got := keepers(after, "secrets-postgres-password"); !reflect.DeepEqual(got, map[string]any{"revision": "2026-11"}) {
		t.Errorf("the database password's keepers = %v", got)
	}
	for _, other := range []string{"secrets-redis-password", "secrets-django-secret-key"} {
		if got := keepers(after, other); got != nil {
			t.Errorf("%s is regenerated too (keepers %v)", other, got)
		}
	}
	// New backend containers roll in, as for any release: rotation does not
	// replace them delete-first.
	if slices.Equal(replicaNames(before), replicaNames(after)) {
		t.Errorf("the backends keep their names across a rotation")
	}
	if notes := strings.Join(after.deployment.Notes, "\n"); !strings.Contains(notes, "backend: secrets changed; new backend containers start") {
		t.Errorf("notes: %s", notes)
	}
}

// On a swarm the server may be on another node than the one Pulumi talks
// to: the step logs in over the data network, by password, after the
// service exists, and what logs in as the application waits for it too.
func TestOnASwarmThePasswordStepLogsInOverTheDataNetwork(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	step := r.container("postgres-password")
	if env, _ := step.env(); env["PGHOST"] != "django-stack-production-postgres" || env["PGPORT"] != "5432" {
		t.Errorf("the swarm's password step connects to %q:%q", env["PGHOST"], env["PGPORT"])
	}
	if len(asSlice(step.input("volumes"))) != 0 || len(asSlice(step.input("networksAdvanced"))) != 1 {
		t.Errorf("the swarm's password step mounts %v and joins %v", step.input("volumes"), step.input("networksAdvanced"))
	}
	if !dependsOn(step, "Postgres$docker:index/service:Service::postgres") {
		t.Errorf("the swarm's password step does not wait for the service: %v", step.DependsOn)
	}
	if !dependsOn(r.container("migrate"), "Postgres$docker:index/container:Container::"+step.Name) {
		t.Errorf("the swarm's migration starts before the password step")
	}
}
