package runtime

import (
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// stopExitScript runs the image's entrypoint and command as its child, hands
// it the signal Docker stops the container with (SIGINT, SIGQUIT or SIGTERM,
// the image's STOPSIGNAL), and when the child exits 0 after such a stop,
// exits 128+signal as a shell does.
//
// Why: the guide's restart policy, on-failure with at most 3 attempts, is
// the one Docker policy that stops a crash loop, and Docker applies it when
// its daemon starts again too: it starts the containers that had exited
// non-zero when the daemon stopped them. A reboot stops every container
// cleanly, and Postgres, Redis, nginx and Traefik all exit 0 on their stop
// signal, so without this the site would stay down after a reboot. A stop
// by `docker stop` or by a release is recorded by Docker as manual and is
// never restarted, whatever the exit code.
const stopExitScript = `signal=0
stop() { signal=$1; kill -"$1" "$child" 2>/dev/null; }
trap 'stop 2' INT
trap 'stop 3' QUIT
trap 'stop 15' TERM
"$@" &
child=$!
while wait "$child"; status=$?; kill -0 "$child" 2>/dev/null; do :; done
if [ "$status" = 0 ] && [ "$signal" != 0 ]; then exit $((128 + signal)); fi
exit "$status"`

// containerEntrypoint is the entrypoint a plain container runs: its own,
// or the image's under stopExitScript when the on-failure policy needs it.
func (w Workload) containerEntrypoint() []string {
	if len(w.Entrypoint) > 0 || len(w.ImageEntrypoint) == 0 || w.Settings.Restart.Condition != "on-failure" {
		return w.Entrypoint
	}
	return append([]string{"/bin/sh", "-c", stopExitScript, "stop-exit"}, w.ImageEntrypoint...)
}

// containerArgs renders what every container of a workload has, a
// long-running one (newContainer) or a one-shot job (RunJob): its name,
// image, command, environment, labels, limits, log rotation, files and
// volumes. Secret variables must already be files (secretsAsFiles).
func (w Workload) containerArgs() *docker.ContainerArgs {
	s := w.Settings
	args := &docker.ContainerArgs{
		Name:   pulumi.String(w.Name),
		Image:  w.Image,
		Envs:   envArray(w.Env),
		Labels: labelArray(w.Labels),
		Cpus:   pulumi.String(s.Resources.Limits.CPUs.String()),
		Memory: pulumi.Int(s.Resources.Limits.Memory.MiB()),
		// Set, and to the limit: no swap, and no diff on the next preview
		// (the provider reads Docker's doubled default back otherwise).
		MemorySwap: pulumi.Int(s.Resources.Limits.MemorySwap()),
		LogDriver:  pulumi.String(s.Logs.Driver),
		LogOpts:    pulumi.ToStringMap(s.Logs.Options()),
	}
	if len(w.Command) > 0 {
		args.Command = pulumi.ToStringArray(w.Command)
	}
	var volumes docker.ContainerVolumeArray
	for _, v := range w.Volumes {
		mount := docker.ContainerVolumeArgs{ContainerPath: pulumi.String(v.Target), ReadOnly: pulumi.Bool(v.ReadOnly)}
		if v.HostPath != "" {
			mount.HostPath = pulumi.String(v.HostPath)
		} else {
			mount.VolumeName = v.Volume
		}
		volumes = append(volumes, mount)
	}
	var uploads docker.ContainerUploadArray
	for _, f := range w.Files {
		uploads = append(uploads, docker.ContainerUploadArgs{
			File: pulumi.String(f.Path), Content: f.Content, Permissions: pulumi.String(f.Mode),
		})
	}
	args.Volumes, args.Uploads = volumes, uploads
	w.harden(args)
	return args
}

// newContainer registers the container a Workload describes.
func newContainer(ctx *pulumi.Context, name string, w Workload, opts ...pulumi.ResourceOption) (*docker.Container, error) {
	w = w.secretsAsFiles()
	s := w.Settings
	grace := pulumi.Int(int(s.StopTimeout.Seconds()))
	args := w.containerArgs()
	args.ReadOnly = pulumi.Bool(true)
	if len(w.Files) > 0 {
		writer, err := newFileWriter(ctx, name, w, args.Uploads, opts...)
		if err != nil {
			return nil, err
		}
		args.Uploads = nil
		for _, dir := range w.fileDirs() {
			args.Volumes = append(args.Volumes.(docker.ContainerVolumeArray), docker.ContainerVolumeArgs{
				VolumeName: pulumi.String(fileVolumeName(w.Name, dir)), ContainerPath: pulumi.String(dir), ReadOnly: pulumi.Bool(true),
			})
		}
		// A new writer (new files) replaces the container: its label changes.
		args.Labels = append(args.Labels.(docker.ContainerLabelArray), docker.ContainerLabelArgs{
			Label: pulumi.String(FilesLabel), Value: writer.ID().ToStringOutput(),
		})
		opts = append(opts, pulumi.DependsOn([]pulumi.Resource{writer}))
	}
	args.Healthcheck = &docker.ContainerHealthcheckArgs{
		Tests:         pulumi.ToStringArray(w.HealthTest),
		Interval:      pulumi.String(s.Healthcheck.Interval.Docker()),
		Timeout:       pulumi.String(s.Healthcheck.Timeout.Docker()),
		Retries:       pulumi.Int(s.Healthcheck.Retries),
		StartPeriod:   pulumi.String(s.Healthcheck.StartPeriod.Docker()),
		StartInterval: s.Healthcheck.startInterval(),
	}
	// Wait makes the update stop until the container is healthy, so that
	// whatever depends on it starts against a ready service.
	args.Wait = pulumi.Bool(!w.NoWait)
	args.WaitTimeout = pulumi.Int(int(s.Healthcheck.ReadyWithin().Seconds()) + 30)
	args.CpuShares = pulumi.Int(s.Resources.Reservations.CPUs.Shares())
	args.MemoryReservation = pulumi.Int(s.Resources.Reservations.Memory.MiB())
	args.Restart = pulumi.String(s.Restart.Condition)
	args.StopTimeout = grace
	// Without it a replace kills the old container outright.
	args.DestroyGraceSeconds = grace
	if s.Restart.Condition == "on-failure" {
		// Docker refuses a retry count with any other policy.
		args.MaxRetryCount = pulumi.Int(s.Restart.MaxAttempts)
	}
	if entrypoint := w.containerEntrypoint(); len(entrypoint) > 0 {
		args.Entrypoints = pulumi.ToStringArray(entrypoint)
	}
	if w.ShmSize > 0 {
		args.ShmSize = pulumi.Int(w.ShmSize.MiB())
	}
	if w.NoFile > 0 {
		args.Ulimits = docker.ContainerUlimitArray{docker.ContainerUlimitArgs{Name: pulumi.String("nofile"), Soft: pulumi.Int(w.NoFile), Hard: pulumi.Int(w.NoFile)}}
	}
	var networks docker.ContainerNetworksAdvancedArray
	for _, n := range w.Networks {
		networks = append(networks, docker.ContainerNetworksAdvancedArgs{Name: n})
	}
	var ports docker.ContainerPortArray
	for _, p := range w.Ports {
		port := docker.ContainerPortArgs{Internal: pulumi.Int(p.Internal), External: pulumi.Int(p.External)}
		if p.IP != "" {
			port.Ip = pulumi.String(p.IP)
		}
		ports = append(ports, port)
	}
	args.NetworksAdvanced, args.Ports = networks, ports
	// The provider updates a healthcheck in place, which Docker never
	// applies to a running container: a changed healthcheck replaces the
	// container instead, delete-first as the provider replaces containers
	// (created first, the new one would meet the old one's name). A
	// backend's containers are named after their spec, healthcheck
	// included, so a release makes new ones before the old ones go.
	opts = append(opts, pulumi.ReplaceOnChanges([]string{"healthcheck"}), pulumi.DeleteBeforeReplace(true))
	return docker.NewContainer(ctx, name, args, opts...)
}

// FilesLabel names, on a container with files, the container that wrote
// them.
const FilesLabel = "djangostack.files-writer"

// newFileWriter writes a container's files into volumes of its own, one per
// directory, for the container to mount read-only. Docker refuses to copy
// anything into a container whose root filesystem is read-only (the
// provider uploads into "/", which no volume is at), so the files go in
// through a container that is created with the same mounts, writable, and
// never started: no process runs, and its own layer holds nothing (every
// file lands in a volume). The volumes go with the container's name.
func newFileWriter(ctx *pulumi.Context, name string, w Workload, uploads docker.ContainerUploadArrayInput, opts ...pulumi.ResourceOption) (*docker.Container, error) {
	labels := map[string]string{}
	for k, v := range w.Labels {
		// Not a server of any route: Traefik must never see it.
		if !strings.HasPrefix(k, "traefik.") {
			labels[k] = v
		}
	}
	var volumes docker.ContainerVolumeArray
	var created []pulumi.Resource
	for _, dir := range w.fileDirs() {
		dockerName := fileVolumeName(w.Name, dir)
		v, err := NewVolume(ctx, name+"-files"+strings.ReplaceAll(dir, "/", "-"), VolumeArgs{DockerName: dockerName, Labels: labels}, opts...)
		if err != nil {
			return nil, err
		}
		created = append(created, v)
		volumes = append(volumes, docker.ContainerVolumeArgs{VolumeName: v.Name, ContainerPath: pulumi.String(dir)})
	}
	args := &docker.ContainerArgs{
		Name:    pulumi.String(w.Name + "-files"),
		Image:   w.Image,
		Labels:  labelArray(labels),
		Volumes: volumes,
		Uploads: uploads,
		Start:   pulumi.Bool(false),
		MustRun: pulumi.Bool(false),
	}
	// Never started, and locked down all the same.
	Privileges{}.lockDown(args)
	// Its name is fixed: the old writer goes before the new one writes.
	return docker.NewContainer(ctx, name+"-files", args, append(opts, pulumi.DependsOn(created), pulumi.DeleteBeforeReplace(true))...)
}

// envArray renders environment variables as KEY=value, sorted by key. They
// are all plain: secrets reach a container as files (secretsAsFiles).
func envArray(env map[string]string) pulumi.StringArray {
	out := make(pulumi.StringArray, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, pulumi.String(k+"="+env[k]))
	}
	return out
}

func labelArray(labels map[string]string) docker.ContainerLabelArray {
	out := make(docker.ContainerLabelArray, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		out = append(out, docker.ContainerLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
	}
	return out
}

// startInterval is StartInterval as the provider takes it: nil when unset,
// so that a stack that leaves it unset renders what it did before.
func (h Healthcheck) startInterval() pulumi.StringPtrInput {
	if h.StartInterval == 0 {
		return nil
	}
	return pulumi.StringPtr(h.StartInterval.Docker())
}
