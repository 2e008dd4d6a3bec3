package tests

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// names lists the logical and Docker names of a run's backend replicas.
func replicaNames(r *run) []string {
	var out []string
	for _, c := range r.backends() {
		out = append(out, c.Name+" "+c.str("name"))
	}
	return out
}

func TestANewImageMakesNewContainersAndTheOldOnesGo(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	release := with(t, "production", "backend.image", "registry.example.com/django-app:1.0.1")
	second := deployAfter(t, first, release)
	if second.err != nil {
		t.Fatal(second.err)
	}
	before, after := replicaNames(first), replicaNames(second)
	if len(before) != 2 || len(after) != 2 {
		t.Fatalf("replicas before %v after %v", before, after)
	}
	for _, name := range after {
		if slices.Contains(before, name) {
			t.Errorf("%s survives an image change: the provider would replace it delete-first", name)
		}
	}
	// The engine creates the new names and deletes the old ones at the end
	// of the update: the second run must not register any old name.
	for _, c := range second.all(typeContainer) {
		for _, old := range first.backends() {
			if c.Name == old.Name {
				t.Errorf("old replica %s is still registered", c.Name)
			}
		}
	}
	for _, c := range second.backends() {
		if !strings.HasPrefix(c.str("name"), "django-stack-production-backend-"+second.deployment.Backend.Fingerprint+"-") {
			t.Errorf("Docker name %q does not carry the spec's digest", c.str("name"))
		}
		if c.input("wait") != true || c.num("waitTimeout") < 250 {
			t.Errorf("%s does not wait long enough to be healthy (wait %v, %vs)", c.Name, c.input("wait"), c.num("waitTimeout"))
		}
	}
}

func TestUnchangedConfigKeepsEveryName(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	second := deployAfter(t, first, fixtureConfig(t, "production"))
	if second.err != nil {
		t.Fatal(second.err)
	}
	var a, b []string
	for _, reg := range first.rec.regs {
		a = append(a, string(reg.URN))
	}
	for _, reg := range second.rec.regs {
		b = append(b, string(reg.URN))
	}
	slices.Sort(a)
	slices.Sort(b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("a no-op update changes the resource names:\n%v\n%v", a, b)
	}
	if len(second.deployment.Notes) != 0 {
		t.Errorf("a no-op update has notes: %v", second.deployment.Notes)
	}
}

func TestAnyBackendEnvChangeRollsToo(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	second := deployOK(t, "production", with(t, "production", "backend.drf.anonRate", "500/hour"))
	if slices.Equal(replicaNames(first), replicaNames(second)) {
		t.Errorf("an env change keeps the replicas' names: it would replace them delete-first")
	}
	// ... but migrations run again only for a new image or command.
	if first.deployment.Backend.Migration != second.deployment.Backend.Migration {
		t.Errorf("an env change reruns the migrations: %s -> %s", first.deployment.Backend.Migration, second.deployment.Backend.Migration)
	}
	third := deployOK(t, "production", with(t, "production", "backend.migrate.command", []any{"python", "manage.py", "migrate", "--noinput", "--skip-checks"}))
	if third.deployment.Backend.Migration == first.deployment.Backend.Migration {
		t.Errorf("a new migration command does not run again")
	}
	fourth := deployOK(t, "production", with(t, "production", "backend.image", "registry.example.com/django-app:2.0.0"))
	if fourth.deployment.Backend.Migration == first.deployment.Backend.Migration {
		t.Errorf("a new image does not run its migrations")
	}
}

func TestMigrationStep(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	job := r.container("migrate")
	// After the step that moves its secret files into its tmpfs.
	if got := job.strings("entrypoints"); len(got) < 2 || !reflect.DeepEqual(got[len(got)-2:], []string{"/bin/sh", "-c"}) {
		t.Errorf("migration entrypoint %q", got)
	}
	script := strings.Join(job.strings("command"), " ")
	for _, part := range []string{"python manage.py migrate --noinput", "attempt of 3", "sleep 5", "timeout 600", "exit 1"} {
		if !strings.Contains(script, part) {
			t.Errorf("migration script lacks %q:\n%s", part, script)
		}
	}
	if job.input("attach") != true || job.input("logs") != true || job.str("restart") != "no" || job.input("mustRun") != false {
		t.Errorf("migration is not a one-shot attached run: attach %v logs %v restart %v mustRun %v",
			job.input("attach"), job.input("logs"), job.input("restart"), job.input("mustRun"))
	}
	if got := job.str("image"); got != "sha256:backend-image" {
		t.Errorf("migration runs %q, want the new backend image", got)
	}
	if got := job.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-data"}) {
		t.Errorf("migration networks %v, want only data", got)
	}
	env, _ := job.env()
	password, secret, _ := job.secretFile("DB_PASSWORD")
	if env["DB_HOST"] != "django-stack-production-postgres" || password == "" || !secret || env["RUN_MIGRATIONS"] != "False" {
		t.Errorf("migration env lacks the contract: %v (password file %q, secret %v)", env, password, secret)
	}
	if !slices.Equal(job.IgnoreChanges, []string{"envs", "uploads", "labels", "networksAdvanced", "cpus", "memory", "memorySwap", "logDriver", "logOpts"}) {
		t.Errorf("the migration would rerun on changes other than image and command: ignoreChanges %v", job.IgnoreChanges)
	}
	if !dependsOn(job, "Postgres$docker:index/container:Container::"+r.container("postgres-password").Name) {
		t.Errorf("the migration does not wait for Postgres to accept the stack's password: %v", job.DependsOn)
	}
	for _, c := range r.backends() {
		if !dependsOn(c, "Backend$docker:index/container:Container::"+job.Name) {
			t.Errorf("%s does not wait for the migration: %v", c.Name, c.DependsOn)
		}
	}
}

func dependsOn(reg *Registration, suffix string) bool {
	return slices.ContainsFunc(reg.DependsOn, func(u resourceURN) bool { return strings.HasSuffix(string(u), suffix) })
}

func TestAFailedMigrationStopsTheRelease(t *testing.T) {
	rec := newRecorder("production")
	rec.failJob = "-migrate-"
	rec.jobLogs = "Operations to perform:\ndjango.db.utils.ProgrammingError: relation \"core_note\" already exists\n"
	failed := deployWith(t, rec, with(t, "production", "backend.image", "registry.example.com/django-app:1.0.1"))
	if failed.err == nil {
		t.Fatal("a failed migration did not stop the update")
	}
	for _, want := range []string{"migrations failed (exit 1)", "the running backend keeps serving", `relation "core_note" already exists`} {
		if !strings.Contains(failed.err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, failed.err)
		}
	}
	if n := len(failed.backends()); n != 0 {
		t.Errorf("%d new backend containers registered after a failed migration", n)
	}
}

func TestMigrationsCanBeLeftToTheImage(t *testing.T) {
	r := deployOK(t, "production", with(t, "production", "backend.migrate.command", []any{}))
	for _, c := range r.all(typeContainer) {
		if role(c.Name) == "migrate" {
			t.Errorf("a migration step runs with an empty command")
		}
	}
	if env, _ := r.container("backend-1").env(); env["RUN_MIGRATIONS"] != "True" {
		t.Errorf("RUN_MIGRATIONS = %q, want True when the image migrates", env["RUN_MIGRATIONS"])
	}
}

func TestThePreviewSaysWhatAChangeCosts(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	cfg := with(t, "production", "postgres.tuning.sharedBuffers", "384MB")
	cfg = setPath(cfg, "backend.image", "registry.example.com/django-app:1.0.1")
	cfg = setPath(cfg, "traefik.logLevel", "WARN")
	second := deployAfter(t, first, cfg)
	if second.err != nil {
		t.Fatal(second.err)
	}
	notes := strings.Join(second.deployment.Notes, "\n")
	for _, want := range []string{
		"postgres: command changed; its container is replaced, so the database restarts",
		"the data volume django-stack-production-postgres-data is kept",
		"backend: image changed; new backend containers start and must pass their healthcheck before the old ones stop: no request is dropped; the new image runs its migrations first",
		"traefik: files changed; its container is replaced: the whole site is unreachable for a few seconds",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	for _, quiet := range []string{"redis:", "nginx:"} {
		if strings.Contains(notes, quiet) {
			t.Errorf("notes mention an unchanged component %s:\n%s", quiet, notes)
		}
	}
}

func TestARenamedDataVolumeIsRefusedInProduction(t *testing.T) {
	rec := newRecorder("production")
	rec.previous = map[string]any{"dataVolumes": map[string]any{
		"postgres": "old-project-production-postgres-data",
		"media":    "django-stack-production-media",
	}}
	r := deployWith(t, rec, fixtureConfig(t, "production"))
	if r.err == nil || !strings.Contains(r.err.Error(), "allowDataVolumeReplacement: the postgres data volume would change from old-project-production-postgres-data to django-stack-production-postgres-data and start empty") {
		t.Errorf("a renamed data volume in production: %v", r.err)
	}
	for _, reg := range r.rec.regs {
		t.Errorf("%s registered before the refusal", reg.Name)
	}
	if want := []string{"pulumi:pulumi:readStackOutputs"}; !slices.Equal(r.rec.calls, want) {
		t.Errorf("the program called %v, want only %v: it reads its last outputs with the engine's function, not a StackReference a diff would print", r.rec.calls, want)
	}

	rec = newRecorder("production")
	rec.previous = map[string]any{"dataVolumes": map[string]any{"postgres": "old-project-production-postgres-data"}}
	allowed := deployWith(t, rec, with(t, "production", "allowDataVolumeReplacement", true))
	if allowed.err != nil || !strings.Contains(strings.Join(allowed.deployment.Notes, "\n"), "would change from old-project") {
		t.Errorf("an allowed replacement: %v, notes %v", allowed.err, allowed.deployment.Notes)
	}

	rec = newRecorder("staging")
	rec.previous = map[string]any{"dataVolumes": map[string]any{"postgres": "old-project-staging-postgres-data"}}
	staging := deployWith(t, rec, fixtureConfig(t, "staging"))
	if staging.err != nil || len(staging.deployment.Notes) != 1 {
		t.Errorf("staging warns instead: %v, notes %v", staging.err, staging.deployment.Notes)
	}
}

// A read of the last outputs that meets the update writing the checkpoint
// is tried again; one that keeps failing is a warning, saying what it was
// reading, and the deployment goes on as a first one would.
func TestTheLastOutputsAreReadAgainWhileTheCheckpointIsBusy(t *testing.T) {
	rec := newRecorder("production")
	rec.checkpointBusy = 2
	r := deployWith(t, rec, fixtureConfig(t, "production"))
	if r.err != nil || len(r.rec.calls) != 3 {
		t.Errorf("two busy reads: %v after %d calls", r.err, len(r.rec.calls))
	}

	rec = newRecorder("production")
	rec.checkpointBusy = 100
	r = deployWith(t, rec, fixtureConfig(t, "production"))
	if r.err != nil || len(r.rec.calls) != 5 {
		t.Fatalf("a read that keeps failing: %v after %d calls", r.err, len(r.rec.calls))
	}
	if notes := strings.Join(r.deployment.Notes, "\n"); !strings.Contains(notes, "reading the stack's last outputs: ") || !strings.Contains(notes, "failed to load checkpoint: EOF") {
		t.Errorf("a read that keeps failing is not a note naming its error: %v", r.deployment.Notes)
	}
	if len(r.all(typeContainer)) == 0 {
		t.Error("nothing registered after the read failed")
	}
}

// failingReader is a reader of the last deployment's record that fails.
type failingReader struct{ err error }

func (f failingReader) ReadPrevious(*pulumi.Context) (stacks.Previous, error) {
	return stacks.Previous{}, f.err
}

// recordReader hands the program a record of the test's.
type recordReader stacks.Previous

func (r recordReader) ReadPrevious(*pulumi.Context) (stacks.Previous, error) {
	return stacks.Previous(r), nil
}

// The program reads the last deployment's record through its Previous
// reader. One that fails does not stop the deployment: a warning, logged
// and kept among the notes, names the error and what could not be checked,
// and every job runs its first attempt.
func TestAnUnreadableLastDeploymentIsAWarning(t *testing.T) {
	rec := newRecorder("production")
	r := deployReading(t, rec, failingReader{errors.New("the backend is unreachable")}, fixtureConfig(t, "production"))
	if r.err != nil {
		t.Fatalf("a failed read stopped the deployment: %v", r.err)
	}
	var note string
	for _, n := range r.deployment.Notes {
		if strings.Contains(n, "the backend is unreachable") {
			note = n
		}
	}
	for _, want := range []string{"could not read the last deployment's record", "data volumes", "jobs' last attempts", "the backend is unreachable"} {
		if !strings.Contains(note, want) {
			t.Errorf("the note %q does not say %q", note, want)
		}
	}
	if !slices.Contains(r.logged, note) {
		t.Errorf("the note was not logged as a warning: %q", r.logged)
	}
	if len(rec.calls) != 0 {
		t.Errorf("the program asked the engine %v: the reader it was given reads the record", rec.calls)
	}
	if len(r.all(typeContainer)) == 0 {
		t.Error("nothing registered after the read failed")
	}
	jobs := jobsOf(t, r)
	if len(jobs) == 0 {
		t.Error("no job recorded")
	}
	for job, run := range jobs {
		if attempt := run.(map[string]any)["attempt"]; attempt != 1 {
			t.Errorf("job %s is at attempt %v, not its first", job, attempt)
		}
	}

	// The same reader's record is what the program checks: a renamed data
	// volume is refused in production.
	renamed := recordReader{DataVolumes: map[string]string{"postgres": "old-project-production-postgres-data"}}
	refused := deployReading(t, newRecorder("production"), renamed, fixtureConfig(t, "production"))
	if refused.err == nil || !strings.Contains(refused.err.Error(), "would change from old-project-production-postgres-data") {
		t.Errorf("the reader's record was not checked: %v", refused.err)
	}
}
