package tests

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// workerRole is the reference backend's worker as a stack's config sets it.
func workerRole() map[string]any {
	return map[string]any{
		"command":    []any{"python3", "manage.py", "runworker", "tasks"},
		"healthTest": []any{"CMD", "python3", "/app/docker/worker_health.py"},
		"replicas":   2,
	}
}

var workerName = regexp.MustCompile(`^backend-worker-([0-9a-f]{10})-([0-9]+)$`)

// workers are a run's worker containers, in the order of their replica
// number (the engine may register them in any order).
func (r *run) workers() []*Registration {
	var out []*Registration
	for _, c := range r.all(typeContainer) {
		if workerName.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Registration) int {
		na, _ := strconv.Atoi(workerName.FindStringSubmatch(a.Name)[2])
		nb, _ := strconv.Atoi(workerName.FindStringSubmatch(b.Name)[2])
		return na - nb
	})
	return out
}

// A role is config only: it runs the backend's image with its own command,
// replicas, healthcheck and settings, the backend's contract and secrets as
// files, on the data network, with no route and no static files.
func TestARoleRunsTheBackendsImageWithItsOwnCommand(t *testing.T) {
	r := deployOK(t, "production", with(t, "production", "backend.roles.worker", workerRole()))
	workers := r.workers()
	if len(workers) != 2 {
		t.Fatalf("worker containers: %d, want 2", len(workers))
	}
	web := r.backends()[0]
	for i, w := range workers {
		if got, want := w.str("name"), "django-stack-production-worker-"+workerName.FindStringSubmatch(w.Name)[1]+"-"+string(rune('1'+i)); got != want {
			t.Errorf("Docker name %q, want %q", got, want)
		}
		if w.str("image") != web.str("image") {
			t.Errorf("%s runs %q, the web containers %q", w.Name, w.str("image"), web.str("image"))
		}
		if got := w.strings("command"); !slices.Equal(got, []string{"python3", "manage.py", "runworker", "tasks"}) {
			t.Errorf("%s command %v", w.Name, got)
		}
		env, _ := w.env()
		webEnv, _ := web.env()
		for _, k := range []string{"DB_HOST", "DB_NAME", "DB_USER", "REDIS_HOST", "ALLOWED_HOSTS", "DB_PASSWORD_FILE", "REDIS_PASSWORD_FILE", "SECRET_KEY_FILE"} {
			if env[k] == "" || env[k] != webEnv[k] {
				t.Errorf("%s %s = %q, the web containers' %q", w.Name, k, env[k], webEnv[k])
			}
		}
		if env["RUN_MIGRATIONS"] != "False" || env["COLLECT_STATIC"] != "False" {
			t.Errorf("%s migrates or collects static files: RUN_MIGRATIONS=%q COLLECT_STATIC=%q", w.Name, env["RUN_MIGRATIONS"], env["COLLECT_STATIC"])
		}
		for _, k := range []string{"DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"} {
			if _, inEnv := env[k]; inEnv {
				t.Errorf("%s has %s in its environment", w.Name, k)
			}
			if _, secret, ok := w.secretFile(k); !ok || !secret {
				t.Errorf("%s: %s is not a secret file (ok %v, secret %v)", w.Name, k, ok, secret)
			}
		}
		if nets := w.networks(); len(nets) != 1 || !strings.HasSuffix(nets[0], "-data") {
			t.Errorf("%s networks %v, want the data network only", w.Name, nets)
		}
		for k := range w.labels() {
			if strings.HasPrefix(k, "traefik.") {
				t.Errorf("%s carries the Traefik label %s", w.Name, k)
			}
		}
		if w.labels()["djangostack.component"] != "worker" {
			t.Errorf("%s component label %q", w.Name, w.labels()["djangostack.component"])
		}
		if got := asStrings(asMap(w.input("healthcheck"))["tests"]); !slices.Equal(got, []string{"CMD", "python3", "/app/docker/worker_health.py"}) {
			t.Errorf("%s healthcheck %v", w.Name, got)
		}
		if w.num("memory") != 512 || w.str("cpus") != "1.0" {
			t.Errorf("%s limits %v MiB, %q CPUs; want the role's default 512 and 1.0", w.Name, w.num("memory"), w.str("cpus"))
		}
		hc := asMap(w.input("healthcheck"))
		if hc["interval"] != "30s" || hc["startPeriod"] != "30s" || hc["timeout"] != "10s" || hc["retries"] != 3.0 {
			t.Errorf("%s healthcheck timing %v; want the role's default every 30s, 10s timeout, 3 retries, 30s start", w.Name, hc)
		}
		if w.num("memoryReservation") != 256 || w.num("cpuShares") != 256 {
			t.Errorf("%s reservation %v MiB, %v shares; want 256 and 256", w.Name, w.num("memoryReservation"), w.num("cpuShares"))
		}
		if got := w.str("restart"); got != web.str("restart") {
			t.Errorf("%s restart %q, want the guide's %q", w.Name, got, web.str("restart"))
		}
		if _, _, ok := w.upload("/app/static"); ok {
			t.Errorf("%s mounts the static volume", w.Name)
		}
	}
	// The stack's outputs list the role's containers: the specs for the
	// next preview, the containers, and the backends a restore stops.
	out := r.deployment.Outputs
	containers := await(t, out["containers"].(pulumi.StringMap).ToStringMapOutput()).Value.(map[string]string)
	if containers["worker-1"] != workers[0].str("name") || containers["worker-2"] != workers[1].str("name") {
		t.Errorf("containers output: %v", containers)
	}
	backends := await(t, out["backends"].(pulumi.StringArray).ToStringArrayOutput()).Value.([]string)
	if len(backends) != len(r.backends())+2 || backends[len(backends)-1] != workers[1].str("name") {
		t.Errorf("backends output %v: want the web containers, then the workers", backends)
	}
	if _, ok := out["specs"].(pulumi.Map)["worker"]; !ok {
		t.Errorf("no spec of the worker in the outputs")
	}
}

// A role is released with the web containers: a failed migration starts
// none of a new image's workers.
func TestAFailedMigrationStartsNoRole(t *testing.T) {
	cfg := with(t, "production", "backend.roles.worker", workerRole())
	first := deployOK(t, "production", cfg)
	release := setPath(cfg, "backend.image", "registry.example.com/django-app:1.0.1")
	failed := deployAfterWith(t, first, failing("production", "-migrate-", "no database\n"), release)
	if failed.err == nil {
		t.Fatal("a failed migration did not stop the update")
	}
	if n := len(failed.workers()); n != 0 {
		t.Errorf("the failed release registered %d workers", n)
	}
	released := deployAfter(t, first, release)
	if released.err != nil {
		t.Fatal(released.err)
	}
	before, after := first.workers()[0], released.workers()[0]
	if before.Name == after.Name {
		t.Errorf("a new image kept the worker %s: its containers are not replaced", before.Name)
	}
	notes := strings.Join(released.deployment.Notes, "\n")
	if !strings.Contains(notes, "worker: image changed; new containers of the role start") {
		t.Errorf("no change note for the worker: %s", notes)
	}
}

// Every role's problems at once, each at its key.
func TestABadRoleIsRefusedWithItsKeys(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	cfg = setPath(cfg, "backend.roles.worker", map[string]any{"replicas": -1, "healthTest": []any{"python3"}, "env": map[string]any{"DB_HOST": "x"}})
	cfg = setPath(cfg, "backend.roles.Celery", map[string]any{"command": []any{"celery"}, "healthTest": []any{"CMD-SHELL", "true"}})
	cfg = setPath(cfg, "backend.roles.postgres", map[string]any{"command": []any{"x"}, "healthTest": []any{"CMD", "true"}})
	cfg = setPath(cfg, "backend.roles.beat", map[string]any{"command": []any{"celery", "beat"}, "healthTest": []any{"CMD", "true"}, "comand": "x"})
	r := deploy(t, "production", cfg)
	if r.err == nil {
		t.Fatal("bad roles were accepted")
	}
	for _, want := range []string{
		"backend.roles.worker.command: is required",
		"backend.roles.worker.replicas: -1 must not be negative",
		`backend.roles.worker.healthTest: ["python3"] is not a healthcheck in Docker's form`,
		`backend.roles.worker.env.DB_HOST: "x" cannot replace DB_HOST`,
		`backend.roles.Celery: "Celery" is not a role name`,
		`backend.roles.postgres: "postgres" is the name of a part of the stack`,
		`backend.roles.beat.comand: is not a setting; did you mean "command"?`,
	} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, r.err)
		}
	}
	if n := len(r.rec.regs); n != 0 {
		t.Errorf("%d resources registered despite the errors", n)
	}
}

// A role's reservations count in the host's sizing: production refuses
// roles that do not fit its host.
func TestRolesCountInTheHostsReservations(t *testing.T) {
	role := workerRole()
	role["replicas"] = 40
	r := deploy(t, "production", with(t, "production", "backend.roles.worker", role))
	if r.err == nil || !strings.Contains(r.err.Error(), "backend.roles.worker 40 x 0.25") {
		t.Fatalf("40 workers on production's host: %v", r.err)
	}
}

// On a swarm a role is one replicated service of the backend's image.
func TestOnASwarmARoleIsAService(t *testing.T) {
	cfg := swarmConfig(t)
	cfg = setPath(cfg, "backend.roles.worker", workerRole())
	r := deployOK(t, "production", cfg)
	s := r.service("backend-worker")
	if got := s.str("name"); got != "django-stack-production-worker" {
		t.Errorf("service name %q", got)
	}
	if got := asMap(asMap(s.input("mode"))["replicated"])["replicas"]; got != 2.0 {
		t.Errorf("replicas %v, want 2", got)
	}
	spec := asMap(asMap(s.input("taskSpec"))["containerSpec"])
	if got, web := spec["image"], asMap(asMap(r.service("backend").input("taskSpec"))["containerSpec"])["image"]; got != web {
		t.Errorf("image %q, the web service's %q", got, web)
	}
	if got := asStrings(spec["args"]); !slices.Equal(got, []string{"python3", "manage.py", "runworker", "tasks"}) {
		t.Errorf("command %v", got)
	}
	for k := range s.labels() {
		if strings.HasPrefix(k, "traefik.") {
			t.Errorf("the worker service carries the Traefik label %s", k)
		}
	}
}
