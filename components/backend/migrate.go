package backend

import (
	"fmt"
	"strings"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Migrations is the one-shot step that migrates the database before a new
// backend starts: the guide's run_migrations, run by the program once per
// image instead of by every replica's entrypoint at once.
type Migrations struct {
	// Command runs the migrations in the backend image; empty leaves migrations
	// to the image.
	Command []string `json:"command"`
	// Attempts is how many times the command is tried.
	Attempts int `json:"attempts"`
	// Delay between attempts.
	Delay units.Duration `json:"delay"`
	// Timeout bounds each attempt, where the image has the timeout command.
	Timeout units.Duration `json:"timeout"`
}

// GuideMigrations are the guide's: migrate --noinput, 3 attempts 5 s apart.
func GuideMigrations() Migrations {
	return Migrations{
		Command:  []string{"python", "manage.py", "migrate", "--noinput"},
		Attempts: 3,
		Delay:    units.Seconds(5),
		Timeout:  units.Seconds(600),
	}
}

// Enabled reports whether the program runs the migrations.
func (m Migrations) Enabled() bool { return len(m.Command) > 0 }

// Script renders the job's shell script: the command, retried.
func (m Migrations) Script() string {
	quoted := make([]string, len(m.Command))
	for i, arg := range m.Command {
		quoted[i] = shellQuote(arg)
	}
	return fmt.Sprintf(`limit=""; command -v timeout >/dev/null 2>&1 && limit="timeout %d"
attempt=1
while :; do
  echo "migrations: attempt $attempt of %d"
  $limit %s && exit 0
  [ "$attempt" -ge %d ] && break
  attempt=$((attempt + 1))
  sleep %d
done
echo "migrations: failed after %d attempts" >&2
exit 1
`, m.Timeout.Seconds(), m.Attempts, strings.Join(quoted, " "), m.Attempts, m.Delay.Seconds(), m.Attempts)
}

// shellQuote quotes one argument for sh.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Check reports migration settings that cannot run.
func (m Migrations) Check() problems.Problems {
	var ps problems.Problems
	if !m.Enabled() {
		return ps
	}
	if m.Attempts < 1 {
		ps.Add("attempts", "%d must be at least 1", m.Attempts)
	}
	if m.Delay < 0 || m.Delay%units.Seconds(1) != 0 {
		ps.Add("delay", "%q must be a whole number of seconds", m.Delay.String())
	}
	if m.Timeout < units.Seconds(1) || m.Timeout%units.Seconds(1) != 0 {
		ps.Add("timeout", "%q must be a whole number of seconds, at least 1s", m.Timeout.String())
	}
	return ps
}

// runMigrations registers the job that migrates the database with a backend
// image before any container of that image starts. Its name carries the
// image and the script (and how it receives its secret files,
// runtime.JobKey), so it runs again when one of them changes, or as
// its next attempt after a failed run (see runs): other changes (env,
// limits) are ignored for it.
func runMigrations(ctx *pulumi.Context, name string, runs runtime.JobRuns, m Migrations, w runtime.Workload, after pulumi.Resource, opts ...pulumi.ResourceOption) (*runtime.Job, error) {
	key := runtime.JobKey(runtime.Spec{"image": w.ImageSource, "script": m.Script()})
	w.Name += "-" + key
	w.Entrypoint = []string{"/bin/sh", "-c"}
	w.Command = []string{m.Script()}
	w.Networks = w.Networks[:1]
	w.Volumes = nil
	return runtime.RunJob(ctx, name+"-migrate-"+key, runs, w,
		"migrations failed", "the running backend keeps serving", []string{"envs", "uploads", "labels", "networksAdvanced", "cpus", "memory", "memorySwap", "logDriver", "logOpts"},
		append(opts, pulumi.DependsOn([]pulumi.Resource{after}))...)
}
