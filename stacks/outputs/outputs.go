// Package outputs names the outputs a deployed stack exports, and what in
// them tools such as cmd/backupctl look up. It is small on purpose: a tool
// reads a stack's outputs through it without linking the whole program
// (the Cloudflare SDK least of all).
package outputs

// Keys of the stack outputs.
const (
	// DockerHost is the stack's Docker host (host.docker).
	DockerHost = "dockerHost"
	// SSHOpts are the ssh options of an ssh:// DockerHost (host.sshOpts),
	// which backupctl hands to the ssh the docker CLI runs.
	SSHOpts = "sshOpts"
	// Runtime is how the stack's workloads run: container or swarm.
	Runtime = "runtime"
	// Backends are the Docker names of the backend's containers (or of
	// its service on a swarm).
	Backends = "backends"
	// URLs are the site's public URLs.
	URLs = "urls"
	// Containers are every container's Docker name, by part: postgres,
	// redis, nginx, traefik, backup, backend-1, backend-2 …
	Containers = "containers"
	// DatabaseURL and RedisURL are the backend's URLs of its servers,
	// password included (secrets).
	DatabaseURL = "databaseUrl"
	RedisURL    = "redisUrl"
	// Specs and DataVolumes are what the next deployment compares with.
	Specs       = "specs"
	DataVolumes = "dataVolumes"
	// Jobs are how the last run of each one-shot job ended, by job:
	// {"attempt", "exitCode"}. The next deployment runs a failed one again.
	Jobs = "jobs"
)

// BackupContainer is the backup's key in Containers, absent when backups
// are off; OffsiteContainer the off-host copy's, absent when it is off.
const (
	BackupContainer  = "backup"
	OffsiteContainer = "backup-offsite"
)

// SwarmRuntime is the Runtime of a stack on a swarm, where Containers name
// services rather than containers.
const SwarmRuntime = "swarm"
