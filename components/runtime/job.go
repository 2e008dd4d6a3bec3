package runtime

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// job is a one-shot container the update waits for.
type Job struct {
	// Name is the logical name of this attempt of the job.
	Name string
	// Passed resolves once the job exited 0, and fails the update with the
	// job's output otherwise.
	Passed pulumi.StringOutput
	// Container is the job's container, for what must start after it.
	Container pulumi.Resource
	// Record is what the stack outputs keep of its run for the next update.
	Record JobRecord
}

// A one-shot container's exit code stays in the state: the provider reports
// it as the container's output, and nothing runs the container again while
// its inputs stay the same. A job that failed would fail every later update
// with the same inputs, replaying its old output, until `--replace`. So each
// update records how its jobs' runs ended (the stack output jobs), and the
// next one reads it back: a job whose last run failed is registered as its
// next attempt, a new container under a new name, created before the failed
// one is deleted at the end of the update. A job that passed keeps its
// attempt, and its name: an unchanged stack still previews no change.

// JobRun is how the last run of a job ended, as an update records it.
type JobRun struct {
	// Attempt is the attempt that ran: 1 for the job's own name, 2 and on
	// for the runs after a failure.
	Attempt int
	// ExitCode is its container's exit code.
	ExitCode int
}

// JobRuns are the runs the last update recorded, by job: the logical name
// of its first attempt.
type JobRuns map[string]JobRun

// Next is the attempt of a job to register: the last one again when it
// passed, the one after when it failed, the first when the job did not run.
func (r JobRuns) Next(job string) int {
	last, ran := r[job]
	switch {
	case !ran || last.Attempt < 1:
		return 1
	case last.ExitCode != 0:
		return last.Attempt + 1
	}
	return last.Attempt
}

// attemptName is the name of an attempt of a job: the job's own for the
// first, so that a stack keeps the names it had; "-<attempt>" after it for
// the others.
func attemptName(name string, attempt int) string {
	if attempt <= 1 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, attempt)
}

// JobRecord is one job's entry in the stack output jobs.
type JobRecord struct {
	// Job names the job as JobRuns do.
	Job string
	// Run resolves to the run's {"attempt", "exitCode"}, or to nil when
	// there is nothing to record (see recordRun). It is never rejected.
	Run pulumi.Output
}

// RecordJobs is the stack output jobs: job -> {"attempt", "exitCode"}. It
// must resolve when the update fails, which is when it matters: the SDK
// writes no stack output at all when one of them is rejected, and the
// engine keeps a failed update's outputs (merged over the last ones). So it
// depends on no value that a failed job rejects.
func RecordJobs(jobs []JobRecord) pulumi.Output {
	runs := make([]any, len(jobs))
	for i, j := range jobs {
		runs[i] = j.Run
	}
	return pulumi.All(runs...).ApplyT(func(v []any) map[string]any {
		out := map[string]any{}
		for i, run := range v {
			if run != nil {
				out[jobs[i].Job] = run
			}
		}
		return out
	})
}

// recordRun resolves to the run of an attempt of a job once its container's
// registration ended: its exit code when the container ran; unknown in a
// preview that creates it; and when the container was not created (a step
// before it failed, or the provider did), the run the last update recorded,
// or nil when it recorded none: the attempt is then tried again as it was.
// It is never rejected (see RecordJobs), and carries no secret and no
// dependency.
func recordRun(ctx *pulumi.Context, exitCode pulumi.IntOutput, attempt int, last *JobRun) pulumi.Output {
	out, resolve, _ := ctx.NewOutput()
	go func() {
		r, err := internals.UnsafeAwaitOutput(ctx.Context(), exitCode)
		code, ran := r.Value.(int)
		switch {
		case err == nil && !r.Known:
			resolve(pulumi.UnsafeUnknownOutput(nil))
		case err == nil && ran:
			resolve(JobRun{Attempt: attempt, ExitCode: code}.fields())
		case last != nil:
			resolve(last.fields())
		default:
			resolve(nil)
		}
	}()
	return out
}

func (r JobRun) fields() map[string]any {
	return map[string]any{"attempt": r.Attempt, "exitCode": r.ExitCode}
}

// runJob registers a one-shot container: the update waits for the end of
// its run and goes on only if it exited 0, else it stops with what failed,
// what that leaves as it was (kept), and the job's output. The container
// runs w's entrypoint and command, env, files and volumes, on its first
// network or none. Changes to ignore do not run it again. name (and w's
// Docker name) are the job's; the attempt that runs is the next one of
// runs, the last update's.
func RunJob(ctx *pulumi.Context, name string, runs JobRuns, w Workload, failed, kept string, ignore []string, opts ...pulumi.ResourceOption) (*Job, error) {
	attempt := runs.Next(name)
	w = w.secretsAsFiles()
	w.Name = attemptName(w.Name, attempt)
	args := w.containerArgs()
	if len(w.Command) == 0 {
		// A job without its own command runs the image's.
		args.Command = pulumi.StringArray{}
	}
	// Wait for the end of the run and keep its output for the error.
	args.Attach, args.Logs, args.MustRun = pulumi.Bool(true), pulumi.Bool(true), pulumi.Bool(false)
	args.Restart = pulumi.String("no")
	if len(w.Entrypoint) > 0 {
		args.Entrypoints = pulumi.ToStringArray(w.Entrypoint)
	}
	// Its secret files must not outlive the run in its stopped container.
	if err := w.stageSecrets(args); err != nil {
		return nil, err
	}
	if len(w.Networks) > 0 {
		args.NetworksAdvanced = docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{Name: w.Networks[0]}}
	} else {
		args.NetworkMode = pulumi.String("none")
	}
	if len(ignore) > 0 {
		opts = append(opts, pulumi.IgnoreChanges(ignore))
	}
	logical := attemptName(name, attempt)
	container, err := docker.NewContainer(ctx, logical, args, opts...)
	if err != nil {
		return nil, err
	}
	j := &Job{Name: logical, Container: container}
	j.Passed = pulumi.All(container.ExitCode, container.ContainerLogs).ApplyT(func(v []any) (string, error) {
		if code := v[0].(int); code != 0 {
			return "", fmt.Errorf("%s (exit %d) in %s; %s; the next `pulumi up` runs it again. Output:\n%s",
				failed, code, logical, kept, lastLines(stripStreamHeaders(v[1].(string)), 40))
		}
		return logical, nil
	}).(pulumi.StringOutput)
	var last *JobRun
	if run, ran := runs[name]; ran {
		last = &run
	}
	j.Record = JobRecord{Job: name, Run: recordRun(ctx, container.ExitCode, attempt, last)}
	return j, nil
}

// lastLines keeps the end of a log, where the error is.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
