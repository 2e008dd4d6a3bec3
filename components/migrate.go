package components

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Migrations is the one-shot step that migrates the database before a new
// backend starts: the guide's run_migrations, run by the program once per
// image instead of by every replica's entrypoint at once.
type Migrations struct {
	// Command runs the migrations in the backend image (default python
	// manage.py migrate --noinput); empty leaves migrations to the image.
	Command []string `json:"command"`
	// Attempts is how many times the command is tried (default 3).
	Attempts int `json:"attempts"`
	// Delay between attempts (default 5s).
	Delay Duration `json:"delay"`
	// Timeout bounds each attempt (default 10m), where the image has the
	// timeout command.
	Timeout Duration `json:"timeout"`
}

// GuideMigrations are the guide's: migrate --noinput, 3 attempts 5 s apart.
func GuideMigrations() Migrations {
	return Migrations{
		Command:  []string{"python", "manage.py", "migrate", "--noinput"},
		Attempts: 3,
		Delay:    Seconds(5),
		Timeout:  Seconds(600),
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
func (m Migrations) Check() Problems {
	var ps Problems
	if !m.Enabled() {
		return ps
	}
	if m.Attempts < 1 {
		ps.Add("attempts", "%d must be at least 1", m.Attempts)
	}
	if m.Delay < 0 || m.Delay%Seconds(1) != 0 {
		ps.Add("delay", "%q must be a whole number of seconds", m.Delay.String())
	}
	if m.Timeout < Seconds(1) || m.Timeout%Seconds(1) != 0 {
		ps.Add("timeout", "%q must be a whole number of seconds, at least 1s", m.Timeout.String())
	}
	return ps
}

// job is a one-shot container the update waits for.
type job struct {
	// Name is the job's logical name.
	Name string
	// Passed resolves once the job exited 0, and fails the update with the
	// job's output otherwise.
	Passed pulumi.StringOutput
}

// runJob registers a one-shot container: the update waits for the end of
// its run and goes on only if it exited 0, else it stops with what failed,
// what that leaves as it was (kept), and the job's output. The container
// runs w's entrypoint and command, env, files and volumes, on its first
// network or none. Changes to ignore do not run it again.
func runJob(ctx *pulumi.Context, name string, w Workload, failed, kept string, ignore []string, opts ...pulumi.ResourceOption) (*job, error) {
	w = w.secretsAsFiles()
	s := w.Settings
	args := &docker.ContainerArgs{
		Name:    pulumi.String(w.Name),
		Image:   w.Image,
		Command: pulumi.ToStringArray(w.Command),
		Envs:    envArray(w.Env),
		Labels:  labelArray(w.Labels),
		// Wait for the end of the run and keep its output for the error.
		Attach:  pulumi.Bool(true),
		Logs:    pulumi.Bool(true),
		MustRun: pulumi.Bool(false),
		Restart: pulumi.String("no"),
		Cpus:    pulumi.String(s.Resources.Limits.CPUs.String()),
		Memory:  pulumi.Int(s.Resources.Limits.Memory.MiB()),
		// As for every container: no swap, and no diff on the next preview.
		MemorySwap: pulumi.Int(s.Resources.Limits.MemorySwap()),
		LogDriver:  pulumi.String(s.Logs.Driver),
		LogOpts:    pulumi.ToStringMap(s.Logs.Options()),
	}
	if len(w.Entrypoint) > 0 {
		args.Entrypoints = pulumi.ToStringArray(w.Entrypoint)
	}
	if len(w.Networks) > 0 {
		args.NetworksAdvanced = docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{Name: w.Networks[0]}}
	} else {
		args.NetworkMode = pulumi.String("none")
	}
	var uploads docker.ContainerUploadArray
	for _, f := range w.Files {
		uploads = append(uploads, docker.ContainerUploadArgs{File: pulumi.String(f.Path), Content: f.Content, Permissions: pulumi.String(f.Mode)})
	}
	var volumes docker.ContainerVolumeArray
	for _, v := range w.Volumes {
		volumes = append(volumes, docker.ContainerVolumeArgs{VolumeName: v.Volume, ContainerPath: pulumi.String(v.Target), ReadOnly: pulumi.Bool(v.ReadOnly)})
	}
	args.Uploads, args.Volumes = uploads, volumes
	if len(ignore) > 0 {
		opts = append(opts, pulumi.IgnoreChanges(ignore))
	}
	container, err := docker.NewContainer(ctx, name, args, opts...)
	if err != nil {
		return nil, err
	}
	j := &job{Name: name}
	j.Passed = pulumi.All(container.ExitCode, container.ContainerLogs).ApplyT(func(v []any) (string, error) {
		if code := v[0].(int); code != 0 {
			return "", fmt.Errorf("%s (exit %d) in %s; %s. Output:\n%s", failed, code, name, kept, lastLines(v[1].(string), 40))
		}
		return name, nil
	}).(pulumi.StringOutput)
	return j, nil
}

// runMigrations registers the job that migrates the database with a backend
// image before any container of that image starts. Its name carries the
// image and the script, so it runs again exactly when one of them changes:
// other changes (env, limits) are ignored for it.
func runMigrations(ctx *pulumi.Context, name string, m Migrations, w Workload, after pulumi.Resource, opts ...pulumi.ResourceOption) (*job, error) {
	key := Spec{"image": w.ImageSource, "script": m.Script()}.Fingerprint()
	w.Name += "-" + key
	w.Entrypoint = []string{"/bin/sh", "-c"}
	w.Command = []string{m.Script()}
	w.Networks = w.Networks[:1]
	w.Volumes = nil
	return runJob(ctx, name+"-migrate-"+key, w,
		"migrations failed", "the running backend keeps serving", []string{"envs", "uploads", "labels", "networksAdvanced", "cpus", "memory", "memorySwap", "logDriver", "logOpts"},
		append(opts, pulumi.DependsOn([]pulumi.Resource{after}))...)
}

// lastLines keeps the end of a log, where the error is.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
