package components

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// PostgresSettings are everything about the database server that is known
// before deployment. DefaultPostgresSettings holds the guide's values.
type PostgresSettings struct {
	// Image is the server image.
	Image string `json:"image"`
	// Database is the name of the application database.
	Database string `json:"database"`
	// User owns the application database.
	User string `json:"user"`
	// Tuning are the server settings passed as `-c name=value`.
	Tuning PostgresTuning `json:"tuning"`
	// ShmSize is the size of /dev/shm. Docker's 64M is too small for parallel
	// queries, which share memory through it.
	ShmSize Size `json:"shmSize"`
	ContainerSettings
}

// PostgresTuning are the guide's server settings. Each renders as one
// `-c name=value` flag of the postgres command.
type PostgresTuning struct {
	// SharedBuffers is shared_buffers.
	SharedBuffers PostgresSize `json:"sharedBuffers"`
	// EffectiveCacheSize is effective_cache_size, the planner's estimate of the
	// memory available for caching data.
	EffectiveCacheSize PostgresSize `json:"effectiveCacheSize"`
	// MaxConnections is max_connections.
	MaxConnections int `json:"maxConnections"`
	// WorkMem is work_mem, per sort or hash operation.
	WorkMem PostgresSize `json:"workMem"`
	// CheckpointCompletionTarget is checkpoint_completion_target.
	CheckpointCompletionTarget float64 `json:"checkpointCompletionTarget"`
	// MaxParallelWorkers is max_parallel_workers.
	MaxParallelWorkers int `json:"maxParallelWorkers"`
	// Extra are further settings, name to value, rendered after the others in
	// name order ({"log_min_duration_statement": "500ms"}).
	Extra map[string]string `json:"extra"`
}

// DefaultPostgresSettings returns the guide's Postgres: the tuning of its
// docker-compose.production.yml, 2 CPUs / 1 GiB limits, a 1 CPU / 512 MiB
// reservation, pg_isready every 10s.
func DefaultPostgresSettings() PostgresSettings {
	return PostgresSettings{
		Image:    "postgres:16-alpine",
		Database: "app",
		User:     "app",
		Tuning: PostgresTuning{
			SharedBuffers:              PostgresSize(256 * MiB),
			EffectiveCacheSize:         PostgresSize(1 * GiB),
			MaxConnections:             200,
			WorkMem:                    PostgresSize(4 * MiB),
			CheckpointCompletionTarget: 0.9,
			MaxParallelWorkers:         4,
		},
		ShmSize: Size(256 * MiB),
		// Postgres finishes a fast shutdown (its image stops it with SIGINT)
		// in seconds, but a checkpoint under load takes longer than Docker's
		// default 10s, and a kill means crash recovery: 60s to stop.
		ContainerSettings: guideContainer(NewResources(2, 1024, 1, 512),
			Healthcheck{Interval: Seconds(10), Timeout: Seconds(5), Retries: 5, StartPeriod: Seconds(10)},
			Seconds(60)),
	}
}

// typed are the settings the tuning types, in the guide's order.
func (t PostgresTuning) typed() []serverSetting {
	return []serverSetting{
		{"shared_buffers", "tuning.sharedBuffers", t.SharedBuffers.String()},
		{"effective_cache_size", "tuning.effectiveCacheSize", t.EffectiveCacheSize.String()},
		{"max_connections", "tuning.maxConnections", strconv.Itoa(t.MaxConnections)},
		{"work_mem", "tuning.workMem", t.WorkMem.String()},
		{"checkpoint_completion_target", "tuning.checkpointCompletionTarget", strconv.FormatFloat(t.CheckpointCompletionTarget, 'f', -1, 64)},
		{"max_parallel_workers", "tuning.maxParallelWorkers", strconv.Itoa(t.MaxParallelWorkers)},
	}
}

// Settings returns the tuning as ordered name/value pairs: the guide's
// settings in the guide's order, then the extra ones by name.
func (t PostgresTuning) Settings() [][2]string {
	return settingPairs(t.typed(), t.Extra)
}

// ExtraInt reads an integer setting of the extra ones, or Postgres's
// default def when it is not set there.
func (t PostgresTuning) ExtraInt(name string, def int) int {
	if n, err := strconv.Atoi(t.Extra[name]); err == nil {
		return n
	}
	return def
}

// Flags renders the tuning as arguments of the postgres command:
// ["-c", "shared_buffers=256MB", "-c", ...].
func (t PostgresTuning) Flags() []string {
	var flags []string
	for _, kv := range t.Settings() {
		flags = append(flags, "-c", kv[0]+"="+kv[1])
	}
	return flags
}

// Command is the container command: the server with the tuning flags.
func (s PostgresSettings) Command() []string {
	return append([]string{"postgres"}, s.Tuning.Flags()...)
}

// HealthTest asks the server over TCP whether it accepts connections for the
// application's user and database. Over TCP, not the socket: the image's
// first-start initialisation runs a temporary server on the socket only, and
// that one must not count as ready.
func (s PostgresSettings) HealthTest() []string {
	return []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", s.User, "-d", s.Database}
}

var postgresIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Postgres's own bounds, as `postgres --describe-config` reports them
// (min_val, max_val; 64-bit builds, 8 kB blocks) and as its start-up
// checks apply them.
const (
	postgresBlock = 8 * KiB
	// MaxBackends: max_connections, autovacuum_max_workers + 1 (the
	// launcher), max_worker_processes and max_wal_senders together.
	postgresMaxBackends = 262143
	// Defaults of the settings the profile does not type.
	postgresAutovacuumMaxWorkers         = 3
	postgresMaxWorkerProcesses           = 8
	postgresMaxWalSenders                = 10
	postgresSuperuserReservedConnections = 3
	// PostgresSharedMemoryPerConnection is a lower bound of the shared
	// memory Postgres maps at start for each allowed connection (its
	// process slot and lock table share): `postgres -C shared_memory_size`
	// reports 481MB for max_connections=10000 and 4677MB for 100000.
	PostgresSharedMemoryPerConnection = 46 * KiB
)

// WorkerProcesses is max_worker_processes: the pool parallel workers come
// from.
func (t PostgresTuning) WorkerProcesses() int {
	return t.ExtraInt("max_worker_processes", postgresMaxWorkerProcesses)
}

// ReservedConnections are the connection slots the application cannot
// use: superuser_reserved_connections and reserved_connections.
func (t PostgresTuning) ReservedConnections() int {
	return t.ExtraInt("superuser_reserved_connections", postgresSuperuserReservedConnections) + t.ExtraInt("reserved_connections", 0)
}

// postgresSizes are the typed memory settings and their bounds.
func (t PostgresTuning) sizes() []struct {
	key, name string
	v         PostgresSize
	min, max  int64
} {
	return []struct {
		key, name string
		v         PostgresSize
		min, max  int64
	}{
		{"tuning.sharedBuffers", "shared_buffers", t.SharedBuffers, 16 * postgresBlock, 1073741823 * postgresBlock},
		{"tuning.effectiveCacheSize", "effective_cache_size", t.EffectiveCacheSize, 1 * postgresBlock, 2147483647 * postgresBlock},
		{"tuning.workMem", "work_mem", t.WorkMem, 64 * KiB, 2147483647 * KiB},
	}
}

// postgresExtra are the rules of tuning.extra.
func (t PostgresTuning) extraRules() extraRules {
	return extraRules{
		server:  "Postgres",
		name:    regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`),
		example: "log_min_duration_statement",
		typed:   t.typed(),
		reserved: map[string]string{
			"port":                    "the healthcheck, DB_PORT and the backups connect to 5432",
			"listen_addresses":        "the backend and the backups connect over the data network",
			"unix_socket_directories": "the password step connects through /var/run/postgresql",
			"data_directory":          "the data volume is mounted at " + postgresDataDir,
			"config_file":             "the image's own configuration is the base of the tuning",
			"hba_file":                "the image's pg_hba.conf lets the network connect with a password",
		},
	}
}

// Check reports settings Postgres cannot start with, or cannot run with in
// its container.
func (s PostgresSettings) Check() Problems {
	var ps Problems
	checkImage(&ps, "image", s.Image)
	for _, id := range [][2]string{{"database", s.Database}, {"user", s.User}} {
		if !postgresIdentifier.MatchString(id[1]) {
			ps.Add(id[0], "%q is not a plain Postgres identifier (lower-case letters, digits and _, at most 63)", id[1])
		}
	}
	t := s.Tuning
	for _, sz := range t.sizes() {
		switch {
		case sz.v.Bytes() < sz.min:
			ps.Add(sz.key, "%q is below Postgres's minimum of %s for %s", sz.v.String(), PostgresSize(sz.min).String(), sz.name)
		case sz.v.Bytes() > sz.max:
			ps.Add(sz.key, "%q is above Postgres's maximum of %s for %s; the server would not start", sz.v.String(), PostgresSize(sz.max).String(), sz.name)
		}
	}
	others := t.ExtraInt("autovacuum_max_workers", postgresAutovacuumMaxWorkers) + 1 +
		t.WorkerProcesses() + t.ExtraInt("max_wal_senders", postgresMaxWalSenders)
	reserved := t.ReservedConnections()
	switch {
	case t.MaxConnections < 1:
		ps.Add("tuning.maxConnections", "%d must be at least 1", t.MaxConnections)
	case t.MaxConnections+others > postgresMaxBackends:
		ps.Add("tuning.maxConnections", "%d is above Postgres's maximum of %d: with its %d other processes (autovacuum_max_workers + 1, max_worker_processes, max_wal_senders) it may run %d in all, and it would not start",
			t.MaxConnections, postgresMaxBackends-others, others, postgresMaxBackends)
	case t.MaxConnections <= reserved:
		ps.Add("tuning.maxConnections", "%d leaves no connection for the application: superuser_reserved_connections and reserved_connections hold %d, and Postgres refuses to start unless max_connections is more",
			t.MaxConnections, reserved)
	}
	if t.CheckpointCompletionTarget <= 0 || t.CheckpointCompletionTarget > 1 {
		ps.Add("tuning.checkpointCompletionTarget", "%v must be more than 0 and at most 1", t.CheckpointCompletionTarget)
	}
	if t.MaxParallelWorkers < 0 || t.MaxParallelWorkers > 1024 {
		ps.Add("tuning.maxParallelWorkers", "%d must be between 0 and 1024 (Postgres's bounds)", t.MaxParallelWorkers)
	}
	t.extraRules().check(&ps, "tuning.extra", t.Extra)
	if s.ShmSize < Size(MiB) {
		ps.Add("shmSize", "%q must be at least 1M", s.ShmSize.String())
	}
	// What the container's memory cannot hold: Postgres maps its shared
	// memory (the buffers, a slot per allowed connection) at start.
	limit := s.Resources.Limits.Memory
	limitKey := []string{"resources.limits.memory"}
	shared := t.SharedBuffers.Bytes() + int64(t.MaxConnections)*PostgresSharedMemoryPerConnection
	switch {
	case t.SharedBuffers.Bytes() >= limit.Bytes():
		ps.AddComparing("tuning.sharedBuffers", limitKey, "%q does not fit in the container's %q memory limit: Postgres maps its shared buffers at start, and the container is killed when they fill",
			t.SharedBuffers.String(), limit.String())
	case t.MaxConnections >= 1 && shared > limit.Bytes():
		ps.AddComparing("tuning.maxConnections", append(limitKey, "tuning.sharedBuffers"), "%d connections need at least %d MiB of shared memory with shared_buffers %q (Postgres maps about %d kB per allowed connection at start), more than the container's %q memory limit",
			t.MaxConnections, shared/MiB, t.SharedBuffers.String(), PostgresSharedMemoryPerConnection/KiB, limit.String())
	}
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// PostgresArgs are the inputs of a Postgres component.
type PostgresArgs struct {
	// Settings of the server; nil means DefaultPostgresSettings().
	Settings *PostgresSettings
	// Target is where the component deploys.
	Target
	// Password of the application user.
	Password pulumi.StringInput
	// Network is the name of the (internal) network the server joins.
	Network pulumi.StringInput
	// KeepData protects the data volume and keeps it when the stack is destroyed.
	KeepData bool
	// PasswordRevision names the revision of Password: a new one runs the
	// password step again, as a new container (see setPassword).
	PasswordRevision Revision
	// Jobs are the runs of the jobs the last update recorded: a password
	// step whose last run failed runs again as its next attempt. Nil: none.
	Jobs JobRuns
}

// Postgres is the database server and its data volume.
type Postgres struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec Spec
	// Server is the container, or Swarm service, that runs it.
	Server Deployed
	Volume *docker.Volume
	// Host is the server's name on the data network.
	Host string
	// Port is the server's port on the data network.
	Port int
	// Database and User are the application's database and its owner.
	Database string
	User     string
	// URL is the application's connection URL (secret).
	URL pulumi.StringOutput
	// PasswordSet resolves once the running cluster has Password (see
	// setPassword); nothing that logs in should start before.
	PasswordSet pulumi.StringOutput
	// Ready is what a client that logs in starts after: on containers the
	// password step, which ends once the server accepts connections with the
	// stack's password; on Swarm, where there is no such step, the service.
	Ready pulumi.Resource
	// Jobs are the records of its jobs' runs, for the next update.
	Jobs []JobRecord
}

// Paths inside the Postgres container.
const (
	postgresDataDir      = "/var/lib/postgresql/data"
	postgresSocketDir    = "/var/run/postgresql"
	postgresPasswordFile = "/run/secrets/postgres-password"
	PostgresPort         = 5432
)

// setPasswordScript waits until the server accepts connections, then sets
// the application user's password to the one in the password file, over the
// server's unix socket, where the image's local connections need no
// password: the old one may be gone already.
//
// The wait is the step's own, over the socket, so that nothing waits for the
// server's first Docker healthcheck, one probe interval after its start
// (10 s), when it is ready in about 2: the migration and the backend start
// that much earlier, and the update still waits for the server's own
// healthcheck alongside. On a first start the image's initialisation runs a
// temporary server on the same socket with listen_addresses = ”; the server
// proper listens on the network, so the wait lasts until SHOW
// listen_addresses answers something. It gives up after readyWithin seconds,
// the longest the server's healthcheck takes to decide.
func setPasswordScript(readyWithin int) string {
	return fmt.Sprintf(`set -eu
deadline=$(( $(date +%%s) + %d ))
until [ -n "$(psql -X -qtA -h `+postgresSocketDir+` -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'SHOW listen_addresses' 2>/dev/null)" ]; do
  if [ "$(date +%%s)" -ge "$deadline" ]; then
    echo "postgres: not accepting connections %d s after the step began" >&2
    exit 1
  fi
  sleep 0.2
done
psql -X -q -v ON_ERROR_STOP=1 -h `+postgresSocketDir+` -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v role="$POSTGRES_USER" -v password="$(cat `+postgresPasswordFile+`)" <<'SQL'
ALTER ROLE :"role" PASSWORD :'password';
SQL
echo "postgres: the password of $POSTGRES_USER is the stack's"
`, readyWithin, readyWithin)
}

// setPassword registers the one-shot step that gives the running cluster
// the stack's password. The image sets the password only when it creates the
// cluster; after a rotation (a new password file) the step sets it in the
// existing one. It runs on the first deploy, where it changes nothing, and
// again when what it does changes: the image, the script, the user, the
// database or the password's revision, which its name carries; or as its
// next attempt after a failed run (see runs). It does not wait for the
// server's container: it waits for the server itself (see
// setPasswordScript).
//
// A change is a new container next to the old one, never a replacement:
// the provider replaces a container delete-first, and the engine then
// replaces first whatever takes an input from it — the backend containers
// and the migration step, gated on the step's success — so a rotation
// stopped every backend before the new ones existed (seen on the real
// engine: the backend deleted at the start, the new one created 35 s later). Other changes of its
// settings (limits, logs, labels) are ignored for it for the same reason.
func setPassword(ctx *pulumi.Context, name string, runs JobRuns, s PostgresSettings, server Workload, socket pulumi.StringInput, revision Revision, parent pulumi.ResourceOption) (*job, error) {
	script := setPasswordScript(int(s.Healthcheck.ReadyWithin().Seconds()))
	key := Spec{"image": server.ImageSource, "script": script, "user": s.User, "database": s.Database, "password": string(revision)}.Fingerprint()
	w := Workload{
		Name:    server.Name + "-password-" + key,
		Image:   server.Image,
		Command: []string{"sh", "-c", script},
		Env:     map[string]string{"POSTGRES_USER": s.User, "POSTGRES_DB": s.Database},
		Files:   server.Files,
		Volumes: []VolumeMount{{Volume: socket, Target: postgresSocketDir}},
		Labels:  mergeMaps(server.Labels, map[string]string{LabelComponent: "postgres-password"}),
		// The job needs no network: it speaks to the server's socket.
		Settings: s.ContainerSettings,
	}
	return runJob(ctx, name+"-password-"+key, runs, w, "setting the database password failed", "the running backend keeps the old one",
		[]string{"labels", "cpus", "memory", "memorySwap", "logDriver", "logOpts"}, parent)
}

// PostgresHost is the Postgres container's name, which the backend and the
// backups resolve on the data network (DB_HOST).
func PostgresHost(n Naming) string { return n.Name("postgres") }

// PostgresDataVolume is the Docker name of the Postgres data volume.
func PostgresDataVolume(n Naming) string { return n.Name("postgres-data") }

// NewPostgres registers the database server: its image, a data volume and a
// container that reads its password from a file, never from the environment.
func NewPostgres(ctx *pulumi.Context, name string, args *PostgresArgs, opts ...pulumi.ResourceOption) (*Postgres, error) {
	if args == nil || args.Password == nil || args.Network == nil {
		return nil, errors.New("postgres: args with a password and a network are required")
	}
	s, err := resolve("postgres", args.Settings, DefaultPostgresSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Postgres{Host: PostgresHost(args.Naming), Port: PostgresPort, Database: s.Database, User: s.User}
	if err := ctx.RegisterComponentResource(typePrefix+"Postgres", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := pullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	c.Volume, err = NewVolume(ctx, name+"-data", VolumeArgs{
		DockerName: PostgresDataVolume(args.Naming),
		Labels:     args.Naming.ComponentLabels("postgres"),
		Keep:       args.KeepData,
	}, parent)
	if err != nil {
		return nil, err
	}
	// The server's unix socket, in a volume a one-shot job can mount too.
	socket, err := NewVolume(ctx, name+"-socket", VolumeArgs{
		DockerName: args.Naming.Name("postgres-socket"),
		Labels:     args.Naming.ComponentLabels("postgres"),
	}, parent)
	if err != nil {
		return nil, err
	}
	w := Workload{
		Name:        c.Host,
		ImageSource: s.Image,
		Image:       runImage(args.Runtime, image),
		// The official image's; see stopExitScript.
		ImageEntrypoint: []string{"docker-entrypoint.sh"},
		Command:         s.Command(),
		Env: map[string]string{
			"POSTGRES_DB":            s.Database,
			"POSTGRES_USER":          s.User,
			"POSTGRES_PASSWORD_FILE": postgresPasswordFile,
			"PGDATA":                 postgresDataDir,
		},
		// The image's entrypoint reads the file both as root and after
		// dropping to the postgres user, hence world-readable inside the
		// container; nothing else runs there.
		Files: []File{{Path: postgresPasswordFile, Content: pulumi.ToSecret(args.Password).(pulumi.StringOutput), Mode: "0444", Secret: true}},
		Volumes: []VolumeMount{
			{Volume: c.Volume.Name, Target: postgresDataDir},
			{Volume: socket.Name, Target: postgresSocketDir},
		},
		Constraints: args.Constraints,
		Networks:    []pulumi.StringInput{args.Network},
		Labels:      args.Naming.ComponentLabels("postgres"),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
		ShmSize:     s.ShmSize,
	}
	c.Spec = w.Describe()
	c.Server, err = register(ctx, args.Runtime, name, w, parent)
	if err != nil {
		return nil, err
	}
	c.URL = pulumi.ToSecret(pulumi.Sprintf("postgres://%s:%s@%s:%d/%s", s.User, args.Password, c.Host, PostgresPort, s.Database)).(pulumi.StringOutput)
	c.PasswordSet, c.Ready = pulumi.String("").ToStringOutput(), c.Server
	if args.Runtime != RuntimeSwarm {
		set, err := setPassword(ctx, name, args.Jobs, s, w, socket.Name, args.PasswordRevision, parent)
		if err != nil {
			return nil, err
		}
		c.PasswordSet, c.Ready, c.Jobs = set.Passed, set.Container, []JobRecord{set.Record}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"host": pulumi.String(c.Host),
		"url":  c.URL,
	})
}
