package runtime

import (
	"fmt"
	"maps"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A one-shot job's container stays on the host once its run ended, stopped,
// with its writable layer: the provider keeps it (it holds the exit code the
// state records), and Docker's own clean-up (--rm) would leave the provider
// with no container to read. A file uploaded into the container is written
// into that layer before the container starts (Docker writes an upload under
// a tmpfs mount point into the layer too, where the tmpfs hides it), so an
// uploaded secret would outlive the run as long as the container.
//
// So a job receives its secret files in two steps. They are uploaded,
// world-writable, into StagedSecretsDir; the job's entrypoint starts with
// jobSecretsScript, which copies each into SecretsDir, a tmpfs of the job's
// own, and empties the staged one before the job's command starts. The job
// reads its secrets where every container does (NAME_FILE is unchanged);
// the stopped container keeps empty files in its layer, and the tmpfs goes
// with the run. What stays is a job killed within those first milliseconds,
// and a failed attempt's container, which the next attempt replaces.

// StagedSecretsDir is where a job's secret files are uploaded, for its
// entrypoint to move them into SecretsDir.
const StagedSecretsDir = "/run/staged-secrets"

// jobSecretsTmpfs are the options of a job's SecretsDir tmpfs: writable by
// the job's user, whichever the image runs as (the directory is private to
// the container), and 1 MiB, which a job's few keys and passwords do not
// come near.
const jobSecretsTmpfs = "mode=1777,size=1m"

// jobSecretsScript moves the staged secret files into the tmpfs (mode 0444,
// as every secret file), empties them whether or not that worked, and runs
// the job's own entrypoint and command, its arguments.
func jobSecretsScript(staged, dir string) string {
	return fmt.Sprintf(`status=0
for staged in %[1]s/*; do
  [ -f "$staged" ] || continue
  file=%[2]s/${staged##*/}
  { cat "$staged" > "$file" && chmod 0444 "$file"; } || status=1
  : > "$staged" || status=1
done
if [ "$status" != 0 ]; then
  echo "job: could not move its secret files from %[1]s into the tmpfs at %[2]s" >&2
  exit 1
fi
exec "$@"`, staged, dir)
}

// StagedSecret is where a job's secret file at path (in SecretsDir) is
// uploaded.
func StagedSecret(path string) string {
	return StagedSecretsDir + "/" + strings.TrimPrefix(path, SecretsDir+"/")
}

// JobKey is the fingerprint that a job's names carry: what it runs (spec)
// and how it receives its secret files. A change of either must be a new
// container, never a replacement of the old one (see RunJob's callers).
func JobKey(spec Spec) string {
	s := maps.Clone(spec)
	s["secretFiles"] = jobSecretsScript(StagedSecretsDir, SecretsDir)
	return s.Fingerprint()
}

// stageSecrets makes a job receive its secret files as jobSecretsScript
// says: args upload them to StagedSecretsDir, world-writable so that the
// job's user can empty them, SecretsDir is a tmpfs, and the entrypoint runs
// the script before the job's own (w's, or the image's that w names) and
// command. A job without secret files is left as it is.
func (w Workload) stageSecrets(args *docker.ContainerArgs) error {
	var uploads docker.ContainerUploadArray
	staged := 0
	for _, f := range w.Files {
		if !f.Secret {
			uploads = append(uploads, docker.ContainerUploadArgs{File: pulumi.String(f.Path), Content: f.Content, Permissions: pulumi.String(f.Mode)})
			continue
		}
		name, inDir := strings.CutPrefix(f.Path, SecretsDir+"/")
		if !inDir || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("job %s: secret file %s is not directly in %s", w.Name, f.Path, SecretsDir)
		}
		uploads = append(uploads, docker.ContainerUploadArgs{File: pulumi.String(StagedSecret(f.Path)), Content: f.Content, Permissions: pulumi.String("0666")})
		staged++
	}
	if staged == 0 {
		return nil
	}
	entrypoint := w.Entrypoint
	if len(entrypoint) == 0 {
		entrypoint = w.ImageEntrypoint
	}
	if len(entrypoint) == 0 && len(w.Command) == 0 {
		// A new entrypoint drops the image's command.
		return fmt.Errorf("job %s: a job with secret files must give its command", w.Name)
	}
	tmpfs := pulumi.StringMap{}
	if set, ok := args.Tmpfs.(pulumi.StringMap); ok {
		maps.Copy(tmpfs, set)
	}
	tmpfs[SecretsDir] = pulumi.String(jobSecretsTmpfs)
	args.Uploads, args.Tmpfs = uploads, tmpfs
	args.Entrypoints = pulumi.ToStringArray(append([]string{"/bin/sh", "-c", jobSecretsScript(StagedSecretsDir, SecretsDir), "job-secrets"}, entrypoint...))
	return nil
}
