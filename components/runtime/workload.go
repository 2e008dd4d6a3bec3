package runtime

import (
	"maps"
	"slices"
	"strings"

	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

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
	ShmSize units.Size
	// NoFile raises the open-files limit when non-zero (containers only;
	// Swarm tasks get the daemon's limit, which is far higher).
	NoFile int
	// Privileges are the workload's exceptions to the lockdown every
	// container gets (hardening.go): its user, the capabilities it keeps,
	// the directories it writes.
	Privileges Privileges
	// NoWait lets the update go on without waiting for the container to be
	// healthy: nothing depends on it, and its health is for monitoring.
	NoWait bool

	// Replicas is the number of tasks of a Swarm service; 0 is one. A container
	// workload is one container; components make several.
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
	// Name of the driver.
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

// MergeMaps returns a new map with the entries of all maps, later ones
// winning: how a workload's labels and environment are layered.
func MergeMaps[V any](layers ...map[string]V) map[string]V {
	out := map[string]V{}
	for _, m := range layers {
		maps.Copy(out, m)
	}
	return out
}
