package components

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ContainerSettings are the run-time properties that every container of the
// stack has, each with the guide's value as the production default. They are
// embedded in each component's settings, so in config they sit next to the
// component's own keys: `postgres.resources.limits.memory`.
type ContainerSettings struct {
	// Resources are the CPU and memory limits and reservations.
	Resources Resources `json:"resources"`
	// Healthcheck is the timing of the container's health probe; each
	// component supplies the probe command itself.
	Healthcheck Healthcheck `json:"healthcheck"`
	// Restart is what Docker does when the process exits.
	Restart RestartPolicy `json:"restart"`
	// Logs is the rotation of the container's log files.
	Logs LogRotation `json:"logs"`
	// StopTimeout is how long the process gets to shut down after SIGTERM
	// (or its image's stop signal) before it is killed.
	StopTimeout Duration `json:"stopTimeout"`
}

// Resources mirror Compose's `deploy.resources` block.
type Resources struct {
	// Limits are hard caps: the container is throttled above Limits.CPUs and
	// killed above Limits.Memory.
	Limits ResourceAmount `json:"limits"`
	// Reservations are what the container is guaranteed under contention. On a
	// single Docker host memory maps onto --memory-reservation (a soft limit
	// enforced when the host runs short) and CPUs onto --cpu-shares (1024 per
	// CPU: a relative weight, since a plain container cannot reserve cores).
	// Swarm reserves both for real when it places the task.
	Reservations ResourceAmount `json:"reservations"`
}

// MemorySwap is the container's memory plus swap limit in MiB: the memory
// limit itself, so the container gets no swap. Left unset, Docker doubles
// the limit, the provider reads that back, and every later preview shows a
// change nobody made.
func (l ResourceAmount) MemorySwap() int { return l.Memory.MiB() }

// ResourceAmount is an amount of CPU and memory.
type ResourceAmount struct {
	// CPUs, fractional allowed ("2.0", "0.5").
	CPUs CPUs `json:"cpus"`
	// Memory, Docker syntax ("1G", "768M"); whole MiB.
	Memory Size `json:"memory"`
}

// Healthcheck is the timing of a container health probe.
type Healthcheck struct {
	// Interval between probes.
	Interval Duration `json:"interval"`
	// Timeout of one probe.
	Timeout Duration `json:"timeout"`
	// Retries is the number of consecutive failures that make the container unhealthy.
	Retries int `json:"retries"`
	// StartPeriod is the time after start during which failures do not count.
	StartPeriod Duration `json:"startPeriod"`
}

// ReadyWithin is the longest a container with this healthcheck can take to be
// reported healthy or unhealthy after it starts: the start period, then one
// full interval plus timeout for each retry. Creating a container waits that
// long (plus a margin) for it to become healthy before the update goes on.
func (h Healthcheck) ReadyWithin() Duration {
	return h.StartPeriod + Duration(h.Retries+1)*(h.Interval+h.Timeout)
}

// RestartPolicy is what happens when a container's process exits. It is the
// guide's `deploy.restart_policy` block; a plain container uses Condition and
// MaxAttempts, Swarm uses all four fields.
type RestartPolicy struct {
	// Condition is one of on-failure, always, unless-stopped, no.
	Condition string `json:"condition"`
	// MaxAttempts caps restarts after failures (on-failure only).
	MaxAttempts int `json:"maxAttempts"`
	// Delay between restart attempts (Swarm).
	Delay Duration `json:"delay"`
	// Window over which a restart is judged successful (Swarm).
	Window Duration `json:"window"`
}

// LogRotation is the container's json-file log rotation: the container-level
// twin of the guide's RotatingFileHandler (10 MB x 5 files).
type LogRotation struct {
	// Driver is the Docker log driver.
	Driver string `json:"driver"`
	// MaxSize of one log file before it is rotated.
	MaxSize Size `json:"maxSize"`
	// MaxFiles is the number of rotated files kept.
	MaxFiles int `json:"maxFiles"`
}

// Options renders the log driver options.
func (l LogRotation) Options() map[string]string {
	return map[string]string{
		"max-size": l.MaxSize.Compact(),
		"max-file": fmt.Sprint(l.MaxFiles),
	}
}

// GuideLogRotation is the guide's log rotation: json-file, 10 MB x 5 files.
func GuideLogRotation() LogRotation {
	return LogRotation{Driver: "json-file", MaxSize: Size(10 * MiB), MaxFiles: 5}
}

// GuideRestartPolicy is the guide's restart policy: on failure, 5 s apart, at
// most 3 attempts within a 120 s window.
func GuideRestartPolicy() RestartPolicy {
	return RestartPolicy{Condition: "on-failure", MaxAttempts: 3, Delay: Seconds(5), Window: Seconds(120)}
}

// NewResources is a Resources value from CPU counts and sizes in MiB.
func NewResources(limitCPUs CPUs, limitMiB int64, reserveCPUs CPUs, reserveMiB int64) Resources {
	return Resources{
		Limits:       ResourceAmount{CPUs: limitCPUs, Memory: Size(limitMiB * MiB)},
		Reservations: ResourceAmount{CPUs: reserveCPUs, Memory: Size(reserveMiB * MiB)},
	}
}

// guideContainer is a container with the guide's restart policy and log
// rotation and its own resources, health timing and stop timeout.
func guideContainer(resources Resources, health Healthcheck, stopTimeout Duration) ContainerSettings {
	return ContainerSettings{
		Resources:   resources,
		Healthcheck: health,
		Restart:     GuideRestartPolicy(),
		Logs:        GuideLogRotation(),
		StopTimeout: stopTimeout,
	}
}

// withExtra appends a component's extra settings, in name order, to its
// named settings.
func withExtra(settings [][2]string, extra map[string]string) [][2]string {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		settings = append(settings, [2]string{k, extra[k]})
	}
	return settings
}

// Seconds is a Duration of n seconds.
func Seconds(n int64) Duration { return Duration(n) * Duration(1e9) }

// Workload is one long-running process as a component renders it: every
// value is known except the inputs that flow from other resources (image,
// network and volume names, secrets). Components render a Workload once;
// register turns it into a docker.Container or, on Swarm, a docker.Service,
// so every component gets resources, health, restart and log rotation the
// same way on both runtimes.
type Workload struct {
	// Name is the Docker name of the container or service.
	Name string
	// Image is the image to run: its id for a container, its repository
	// digest for a Swarm service, whose nodes pull it themselves.
	Image pulumi.StringInput
	// ImageSource is what Image was made from, for the Spec: the reference
	// pulled, or the build context and its digest.
	ImageSource string
	// Entrypoint replaces the image's entrypoint when set.
	Entrypoint []string
	// ImageEntrypoint is the image's own entrypoint, given by components
	// whose server exits 0 when it is stopped (Postgres, Redis, nginx,
	// Traefik) so that a container with the on-failure policy runs it under
	// stopExit. Command must then be complete: a new entrypoint drops the
	// image's default command.
	ImageEntrypoint []string
	// Command replaces the image's command when set.
	Command []string
	// Env are the plain environment variables.
	Env map[string]string
	// SecretEnv are environment variables whose values are secrets. They
	// never reach the environment (`docker inspect` would show them): each
	// becomes a file under /run/secrets/ and the variable NAME_FILE names
	// it, the official images' convention (see secretsAsFiles).
	SecretEnv map[string]pulumi.StringInput
	// SecretsRevision names the revision of the secrets, which the Spec
	// cannot show: a rotated secret changes the Spec through it.
	SecretsRevision string
	// Files are written into the container before it starts.
	Files []File
	// Volumes are named volumes (or host paths) mounted into the container.
	Volumes []VolumeMount
	// Networks the container joins.
	Networks []pulumi.StringInput
	// Ports published on the host.
	Ports []PublishedPort
	// Labels on the container.
	Labels map[string]string
	// HealthTest is the probe, in Docker's form (["CMD", ...] or ["CMD-SHELL", "..."]).
	HealthTest []string
	// Settings are resources, health timing, restart and logs.
	Settings ContainerSettings
	// ShmSize is the size of /dev/shm; zero leaves Docker's 64M.
	ShmSize Size
	// NoFile raises the open-files limit when non-zero (containers only;
	// Swarm tasks get the daemon's limit, which is far higher).
	NoFile int
	// NoWait lets the update go on without waiting for the container to be
	// healthy: nothing depends on it, and its health is for monitoring.
	NoWait bool

	// Replicas is the number of tasks of a Swarm service (default 1). A
	// container workload is one container; components make several.
	Replicas int
	// Constraints place a Swarm service's tasks ("node.role == manager").
	Constraints []string
	// Update and Rollback roll a Swarm service's tasks; nil keeps Swarm's
	// defaults.
	Update, Rollback *Rollout
}

// File is a file written into a container before it starts: uploaded into a
// container, or given to a Swarm service as a config or, when Secret, as a
// secret. Secret files live under /run/secrets/ on both runtimes.
type File struct {
	Path    string
	Content pulumi.StringInput
	// Mode is the octal permission string ("0444").
	Mode string
	// Secret files hold credentials.
	Secret bool
}

// VolumeMount mounts a named volume, or a host path when HostPath is set.
type VolumeMount struct {
	Volume   pulumi.StringInput
	HostPath string
	Target   string
	ReadOnly bool
	// Driver creates the volume on a Swarm node that has none yet (for
	// shared storage such as NFS); empty is Docker's local driver.
	Driver VolumeDriver
}

// VolumeDriver is a Docker volume driver and its options.
type VolumeDriver struct {
	// Name of the driver (default local).
	Name string `json:"name"`
	// Options of the driver ({"type": "nfs", "o": "addr=10.0.0.2,rw", "device": ":/srv/media"}).
	Options map[string]string `json:"options"`
}

// PublishedPort publishes a container port on the host.
type PublishedPort struct {
	Internal int
	External int
	// IP is the host address to bind; empty means every interface.
	IP string
}

// SecretsDir is where a workload's secret files are, on both runtimes.
const SecretsDir = "/run/secrets"

// SecretFile is the file that holds the secret environment variable name:
// DB_PASSWORD is /run/secrets/db_password, named by DB_PASSWORD_FILE.
func SecretFile(name string) string { return SecretsDir + "/" + strings.ToLower(name) }

// secretsAsFiles hands the workload's secret variables over as files: each
// becomes a secret file and the plain variable NAME_FILE its path. Files
// are world-readable inside the container (0444) because images drop to
// their own user (the backend's django, uid 10001) after start; nothing else
// runs there. Every registration and the Spec go through it, so both
// runtimes and the preview agree.
func (w Workload) secretsAsFiles() Workload {
	if len(w.SecretEnv) == 0 {
		return w
	}
	env := maps.Clone(w.Env)
	if env == nil {
		env = map[string]string{}
	}
	files := slices.Clone(w.Files)
	for _, k := range slices.Sorted(maps.Keys(w.SecretEnv)) {
		path := SecretFile(k)
		env[k+"_FILE"] = path
		files = append(files, File{Path: path, Content: pulumi.ToSecret(w.SecretEnv[k]).(pulumi.StringOutput), Mode: "0444", Secret: true})
	}
	w.Env, w.Files, w.SecretEnv = env, files, nil
	return w
}

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

// newContainer registers the container a Workload describes.
func newContainer(ctx *pulumi.Context, name string, w Workload, opts ...pulumi.ResourceOption) (*docker.Container, error) {
	w = w.secretsAsFiles()
	s := w.Settings
	grace := pulumi.Int(int(s.StopTimeout.Seconds()))
	args := &docker.ContainerArgs{
		Name:   pulumi.String(w.Name),
		Image:  w.Image,
		Envs:   envArray(w.Env),
		Labels: labelArray(w.Labels),
		Healthcheck: &docker.ContainerHealthcheckArgs{
			Tests:       pulumi.ToStringArray(w.HealthTest),
			Interval:    pulumi.String(s.Healthcheck.Interval.Docker()),
			Timeout:     pulumi.String(s.Healthcheck.Timeout.Docker()),
			Retries:     pulumi.Int(s.Healthcheck.Retries),
			StartPeriod: pulumi.String(s.Healthcheck.StartPeriod.Docker()),
		},
		// Wait makes the update stop until the container is healthy, so that
		// whatever depends on it starts against a ready service.
		Wait:              pulumi.Bool(!w.NoWait),
		WaitTimeout:       pulumi.Int(int(s.Healthcheck.ReadyWithin().Seconds()) + 30),
		Cpus:              pulumi.String(s.Resources.Limits.CPUs.String()),
		CpuShares:         pulumi.Int(s.Resources.Reservations.CPUs.Shares()),
		Memory:            pulumi.Int(s.Resources.Limits.Memory.MiB()),
		MemorySwap:        pulumi.Int(s.Resources.Limits.MemorySwap()),
		MemoryReservation: pulumi.Int(s.Resources.Reservations.Memory.MiB()),
		Restart:           pulumi.String(s.Restart.Condition),
		LogDriver:         pulumi.String(s.Logs.Driver),
		LogOpts:           pulumi.ToStringMap(s.Logs.Options()),
		StopTimeout:       grace,
		// Without it a replace kills the old container outright.
		DestroyGraceSeconds: grace,
	}
	if s.Restart.Condition == "on-failure" {
		// Docker refuses a retry count with any other policy.
		args.MaxRetryCount = pulumi.Int(s.Restart.MaxAttempts)
	}
	if len(w.Command) > 0 {
		args.Command = pulumi.ToStringArray(w.Command)
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
	var ports docker.ContainerPortArray
	for _, p := range w.Ports {
		port := docker.ContainerPortArgs{Internal: pulumi.Int(p.Internal), External: pulumi.Int(p.External)}
		if p.IP != "" {
			port.Ip = pulumi.String(p.IP)
		}
		ports = append(ports, port)
	}
	var uploads docker.ContainerUploadArray
	for _, f := range w.Files {
		uploads = append(uploads, docker.ContainerUploadArgs{
			File: pulumi.String(f.Path), Content: f.Content, Permissions: pulumi.String(f.Mode),
		})
	}
	args.NetworksAdvanced, args.Volumes, args.Ports, args.Uploads = networks, volumes, ports, uploads
	return docker.NewContainer(ctx, name, args, opts...)
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

// mergeMaps returns a new map with the entries of all maps, later ones
// winning: how a workload's labels and environment are layered.
func mergeMaps[V any](layers ...map[string]V) map[string]V {
	out := map[string]V{}
	for _, m := range layers {
		maps.Copy(out, m)
	}
	return out
}
