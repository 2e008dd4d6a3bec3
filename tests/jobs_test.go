package tests

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/runtime"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A one-shot job's exit code stays in the state, so an update with the
// same inputs would replay a failure instead of running the job again. Each
// update records its jobs' runs (the stack output jobs) and the next one
// runs a failed job again as a new container. These tests chain updates
// through that output, as the engine keeps it, failed updates included.

// jobsOf is the stack output jobs of a run. It must resolve, not secret,
// even when the run failed.
func jobsOf(t *testing.T, r *run) map[string]any {
	t.Helper()
	res := await(t, pulumi.ToOutput(r.deployment.Outputs["jobs"]))
	if !res.Known || res.Secret {
		t.Fatalf("jobs output known %v, secret %v", res.Known, res.Secret)
	}
	jobs, _ := res.Value.(map[string]any)
	return jobs
}

func jobRun(attempt, exitCode int) map[string]any {
	return map[string]any{"attempt": attempt, "exitCode": exitCode}
}

// containerNames are every container's logical name, sorted.
func containerNames(r *run) []string {
	var names []string
	for _, c := range r.all(typeContainer) {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// registersBackend reports whether a run registered the backend: its
// containers, or its service on a swarm.
func registersBackend(r *run) bool {
	return len(r.backends()) > 0 || slices.ContainsFunc(r.all(typeService), func(s *Registration) bool { return s.Name == "backend" })
}

func failing(stack, job, logs string) *recorder {
	rec := newRecorder(stack)
	rec.failJob, rec.jobLogs = job, logs
	return rec
}

func TestAFailedMigrationRunsAgainOnTheNextUpdate(t *testing.T) {
	for name, cfg := range map[string]func(t *testing.T) map[string]any{
		"containers": func(t *testing.T) map[string]any { return fixtureConfig(t, "production") },
		// On a swarm too, the migration is a container on the host.
		"swarm": swarmConfig,
	} {
		t.Run(name, func(t *testing.T) {
			first := deployOK(t, "production", cfg(t))
			release := setPath(cfg(t), "backend.image", "registry.example.com/django-app:1.0.1")

			failed := deployAfterWith(t, first, failing("production", "-migrate-", "could not translate host name\n"), release)
			if failed.err == nil || !strings.Contains(failed.err.Error(), "the next `pulumi up` runs it again") {
				t.Fatalf("the failed migration: %v", failed.err)
			}
			if registersBackend(failed) {
				t.Errorf("the failed release registered a backend")
			}
			job := failed.container("migrate").Name
			if got := jobsOf(t, failed)[job]; !reflect.DeepEqual(got, jobRun(1, 1)) {
				t.Errorf("the failed update records %s as %v, want attempt 1, exit 1", job, got)
			}

			// Nothing changed but the database, which is back: the step runs
			// again, under a new name, and the release goes on.
			retried := deployAfter(t, failed, release)
			if retried.err != nil {
				t.Fatal(retried.err)
			}
			again := retried.container("migrate")
			if again.Name != job+"-2" || !strings.HasSuffix(again.str("name"), "-migrate-"+strings.TrimPrefix(job, "backend-migrate-")+"-2") {
				t.Errorf("the migration ran again as %s (Docker name %s), want %s-2", again.Name, again.str("name"), job)
			}
			if !registersBackend(retried) {
				t.Errorf("the retried release registered no backend")
			}
			if got := jobsOf(t, retried)[job]; !reflect.DeepEqual(got, jobRun(2, 0)) {
				t.Errorf("the retried update records %s as %v, want attempt 2, exit 0", job, got)
			}

			// An attempt that passed keeps its name: the next update (and its
			// preview) changes nothing.
			next := deployAfter(t, retried, release)
			if next.err != nil || !slices.Equal(containerNames(next), containerNames(retried)) {
				t.Errorf("the update after the retry: %v\n got %v\nwant %v", next.err, containerNames(next), containerNames(retried))
			}
		})
	}
}

func TestAFailedPasswordStepRunsAgainOnTheNextUpdate(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	migration := first.container("migrate").Name
	rotated := with(t, "production", "rotation.postgres", "2026-11")

	failed := deployAfterWith(t, first, failing("production", "postgres-password", "postgres: not accepting connections 100 s after the step began\n"), rotated)
	if failed.err == nil || !strings.Contains(failed.err.Error(), "setting the database password failed (exit 1)") {
		t.Fatalf("the failed password step: %v", failed.err)
	}
	step := failed.container("postgres-password").Name
	if step == first.container("postgres-password").Name {
		t.Errorf("a rotation does not make a new password step: %s", step)
	}
	// The migration never started (it waits for the password), so it keeps
	// the run it had.
	want := map[string]any{step: jobRun(1, 1), migration: jobRun(1, 0)}
	if got := jobsOf(t, failed); !reflect.DeepEqual(got, want) {
		t.Errorf("the failed update records %v, want %v", got, want)
	}

	retried := deployAfter(t, failed, rotated)
	if retried.err != nil {
		t.Fatal(retried.err)
	}
	if got := retried.container("postgres-password"); got.Name != step+"-2" || !strings.HasSuffix(got.str("name"), strings.TrimPrefix(step, "postgres")+"-2") {
		t.Errorf("the password step ran again as %s (Docker name %s), want %s-2", got.Name, got.str("name"), step)
	}
	if got := retried.container("migrate").Name; got != migration {
		t.Errorf("the migration, which never failed, is now %s, want %s", got, migration)
	}
	if len(retried.backends()) == 0 {
		t.Errorf("the retried update registered no backend")
	}
	next := deployAfter(t, retried, rotated)
	if next.err != nil || !slices.Equal(containerNames(next), containerNames(retried)) {
		t.Errorf("the update after the retry: %v\n got %v\nwant %v", next.err, containerNames(next), containerNames(retried))
	}
}

// A job whose container an earlier failure kept from being created keeps
// the failed run it had: its next attempt is still due.
func TestAJobThatDidNotRunKeepsItsRecord(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	release := with(t, "production", "backend.image", "registry.example.com/django-app:1.0.1")
	migrationFailed := deployAfterWith(t, first, failing("production", "-migrate-", "boom\n"), release)
	job := migrationFailed.container("migrate").Name

	both := setPath(release, "rotation.postgres", "2026-11")
	passwordFailed := deployAfterWith(t, migrationFailed, failing("production", "postgres-password", "boom\n"), both)
	if passwordFailed.err == nil {
		t.Fatal("the password step did not fail")
	}
	if got := jobsOf(t, passwordFailed)[job]; !reflect.DeepEqual(got, jobRun(1, 1)) {
		t.Errorf("the migration's record after an update that did not run it: %v, want attempt 1, exit 1", got)
	}
	retried := deployAfter(t, passwordFailed, both)
	if retried.err != nil || retried.container("migrate").Name != job+"-2" {
		t.Errorf("the next update: %v, migration %s, want %s-2", retried.err, retried.container("migrate").Name, job)
	}
}

// A jobs output it cannot read (a stack deployed before it existed, an
// entry of another shape) runs every job under its first name.
func TestAJobsRecordThatCannotBeReadIsAFirstRun(t *testing.T) {
	first := deployOK(t, "production", fixtureConfig(t, "production"))
	rec := newRecorder("production")
	rec.previous = map[string]any{"jobs": map[string]any{
		first.container("migrate").Name:           "failed",
		first.container("postgres-password").Name: map[string]any{"attempt": "two", "exitCode": 1},
	}}
	r := deployWith(t, rec, fixtureConfig(t, "production"))
	if r.err != nil || !slices.Equal(containerNames(r), containerNames(first)) {
		t.Errorf("%v: %v, want %v", r.err, containerNames(r), containerNames(first))
	}
}

// The password step's name carries what it does, so a change of it is a new
// container: a replacement would be delete-first, and the engine would
// then replace first the backends, whose image waits on the step. Changes
// of its limits or logs do not run it again.
func TestThePasswordStepIsANewContainerWhenWhatItDoesChanges(t *testing.T) {
	base := deployOK(t, "production", fixtureConfig(t, "production")).container("postgres-password")
	if want := []string{"labels", "cpus", "memory", "memorySwap", "logDriver", "logOpts"}; !slices.Equal(base.IgnoreChanges, want) {
		t.Errorf("the password step's ignoreChanges %v, want %v", base.IgnoreChanges, want)
	}
	for _, c := range []struct {
		path  string
		value any
		same  bool
	}{
		{"rotation.postgres", "2026-11", false},
		{"postgres.healthcheck.retries", 2, false}, // its wait, as long as the server's healthcheck takes
		{"postgres.user", "django", false},
		{"postgres.resources.limits.cpus", "1.5", true},
		{"postgres.logs.maxFiles", 5, true},
	} {
		step := deployOK(t, "production", with(t, "production", c.path, c.value)).container("postgres-password")
		if (step.Name == base.Name) != c.same || (step.str("name") == base.str("name")) != c.same {
			t.Errorf("%s = %v: the password step is %s (%s), it was %s; want the same name: %v", c.path, c.value, step.Name, step.str("name"), base.Name, c.same)
		}
	}
}

// The job's output in the error is the text the job wrote: the provider
// hands over Docker's multiplexed log stream, headers and all.
func TestAFailedJobShowsItsOutputWithoutStreamHeaders(t *testing.T) {
	logs := "\x01\x00\x00\x00\x00\x00\x00\x1bmigrations: attempt 1 of 3\n" +
		"\x02\x00\x00\x00\x00\x00\x00\x23could not translate host name \"db\"\n" +
		// A 10-byte write, whose size byte is a newline.
		"\x01\x00\x00\x00\x00\x00\x00\x0aattempt 2\n" +
		// A 425-byte one, whose last size byte (0xa9) is no UTF-8 and
		// reaches the program as U+FFFD, as seen on the real engine.
		"\x02\x00\x00\x00\x00\x00\x01\uFFFD" + strings.Repeat("x", 424) + "\n"
	r := deployWith(t, failing("production", "-migrate-", logs), with(t, "production", "backend.image", "registry.example.com/django-app:1.0.1"))
	if r.err == nil {
		t.Fatal("the migration did not fail")
	}
	msg := r.err.Error()
	if want := "Output:\nmigrations: attempt 1 of 3\ncould not translate host name \"db\"\nattempt 2\n" + strings.Repeat("x", 424); !strings.HasSuffix(msg, want) || strings.ContainsRune(msg, 0) || strings.ContainsRune(msg, '\uFFFD') {
		t.Errorf("the error shows %q, want it to end with %q and hold no zero byte", msg, want)
	}
}

// A one-shot job's stopped container stays on the host with its writable
// layer, where an upload is written. So every secret file of a job is
// uploaded staged, into a directory its entrypoint empties before the job's
// command starts, and the job reads it from a tmpfs that goes with the run
// (the script itself is run by a real sh in components/runtime). A
// long-running container gets its files where it reads them.
func TestAJobsSecretFilesDoNotOutliveItsRun(t *testing.T) {
	for _, stack := range []string{"production", "local"} {
		r := deployOK(t, stack, withAppSecrets(fixtureConfig(t, stack), map[string]string{"SENTRY_DSN": sentryDSN}))
		jobs := 0
		for _, c := range r.all(typeContainer) {
			isJob := c.input("attach") == true
			tmpfs, _ := c.input("tmpfs").(map[string]any)
			for _, u := range asSlice(c.input("uploads")) {
				path := fmt.Sprint(asMap(u)["file"])
				_, secret, _ := c.upload(path)
				switch {
				case isJob && secret && (!strings.HasPrefix(path, runtime.StagedSecretsDir+"/") || asMap(u)["permissions"] != "0666"):
					t.Errorf("%s %s: secret file %s (mode %v) is not staged for its entrypoint to empty", stack, c.Name, path, asMap(u)["permissions"])
				case !isJob && strings.HasPrefix(path, runtime.StagedSecretsDir+"/"):
					t.Errorf("%s %s: a long-running container gets %s staged", stack, c.Name, path)
				}
			}
			if !isJob {
				continue
			}
			jobs++
			if tmpfs[runtime.SecretsDir] != "mode=1777,size=1m" {
				t.Errorf("%s %s: no tmpfs at %s: %v", stack, c.Name, runtime.SecretsDir, tmpfs)
			}
			entrypoint := c.strings("entrypoints")
			if len(entrypoint) < 4 || entrypoint[0] != "/bin/sh" || !strings.Contains(entrypoint[2], `: > "$staged"`) || entrypoint[3] != "job-secrets" {
				t.Errorf("%s %s: the entrypoint does not empty the staged files first: %q", stack, c.Name, entrypoint)
			}
		}
		if jobs != 2 {
			t.Errorf("%s: %d one-shot jobs, want the password step and the migration", stack, jobs)
		}
		// The job still finds each secret where its variable says.
		if got, secret, ok := r.container("migrate").secretFile("SENTRY_DSN"); got != sentryDSN || !secret || !ok {
			t.Errorf("%s: the migration's SENTRY_DSN_FILE gives %q (secret %v, uploaded %v)", stack, got, secret, ok)
		}
	}
}
