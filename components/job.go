package components

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// job is a one-shot container the update waits for.
type job struct {
	// Name is the job's logical name.
	Name string
	// Passed resolves once the job exited 0, and fails the update with the
	// job's output otherwise.
	Passed pulumi.StringOutput
	// Container is the job's container, for what must start after it.
	Container pulumi.Resource
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
	j := &job{Name: name, Container: container}
	j.Passed = pulumi.All(container.ExitCode, container.ContainerLogs).ApplyT(func(v []any) (string, error) {
		if code := v[0].(int); code != 0 {
			return "", fmt.Errorf("%s (exit %d) in %s; %s. Output:\n%s", failed, code, name, kept, lastLines(v[1].(string), 40))
		}
		return name, nil
	}).(pulumi.StringOutput)
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
