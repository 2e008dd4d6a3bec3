package postgres

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/scripts"
	"github.com/djangostack/infra/components/secrets"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Settings are everything about the database server that is known
// before deployment. DefaultSettings holds the guide's values.
type Settings struct {
	// Image is the server image.
	Image string `json:"image"`
	// Database is the name of the application database.
	Database string `json:"database"`
	// User is the application's role: the backend, its roles and the
	// migrations log in as it. It owns the application database and is no
	// superuser (the superuser is "postgres", for the password step and the
	// backups only).
	User string `json:"user"`
	// Tuning are the server settings passed as `-c name=value`.
	Tuning Tuning `json:"tuning"`
	// ShmSize is the size of /dev/shm. Docker's 64M is too small for parallel
	// queries, which share memory through it.
	ShmSize units.Size `json:"shmSize"`
	runtime.ContainerSettings
}

// Tuning are the guide's server settings. Each renders as one
// `-c name=value` flag of the postgres command.
type Tuning struct {
	// SharedBuffers is shared_buffers.
	SharedBuffers units.PostgresSize `json:"sharedBuffers"`
	// EffectiveCacheSize is effective_cache_size, the planner's estimate of the
	// memory available for caching data.
	EffectiveCacheSize units.PostgresSize `json:"effectiveCacheSize"`
	// MaxConnections is max_connections.
	MaxConnections int `json:"maxConnections"`
	// WorkMem is work_mem, per sort or hash operation.
	WorkMem units.PostgresSize `json:"workMem"`
	// CheckpointCompletionTarget is checkpoint_completion_target.
	CheckpointCompletionTarget float64 `json:"checkpointCompletionTarget"`
	// MaxParallelWorkers is max_parallel_workers.
	MaxParallelWorkers int `json:"maxParallelWorkers"`
	// Extra are further settings, name to value, rendered after the others in
	// name order ({"log_min_duration_statement": "500ms"}).
	Extra map[string]string `json:"extra"`
}

// DefaultSettings returns the guide's Postgres: the tuning of its
// docker-compose.production.yml, 2 CPUs / 1 GiB limits, a 1 CPU / 512 MiB
// reservation, pg_isready every 10s.
func DefaultSettings() Settings {
	return Settings{
		Image:    "postgres:16-alpine",
		Database: "app",
		User:     "app",
		Tuning: Tuning{
			SharedBuffers:              units.PostgresSize(256 * units.MiB),
			EffectiveCacheSize:         units.PostgresSize(1 * units.GiB),
			MaxConnections:             200,
			WorkMem:                    units.PostgresSize(4 * units.MiB),
			CheckpointCompletionTarget: 0.9,
			MaxParallelWorkers:         4,
		},
		ShmSize: units.Size(256 * units.MiB),
		// Postgres finishes a fast shutdown (its image stops it with SIGINT)
		// in seconds, but a checkpoint under load takes longer than Docker's
		// default 10s, and a kill means crash recovery: 60s to stop.
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(2, 1024, 1, 512),
			runtime.Healthcheck{Interval: units.Seconds(10), Timeout: units.Seconds(5), Retries: 5, StartPeriod: units.Seconds(10)},
			units.Seconds(60)),
	}
}

// typed are the settings the tuning types, in the guide's order.
func (t Tuning) typed() []runtime.ServerSetting {
	return []runtime.ServerSetting{
		{Name: "shared_buffers", Key: "tuning.sharedBuffers", Value: t.SharedBuffers.String()},
		{Name: "effective_cache_size", Key: "tuning.effectiveCacheSize", Value: t.EffectiveCacheSize.String()},
		{Name: "max_connections", Key: "tuning.maxConnections", Value: strconv.Itoa(t.MaxConnections)},
		{Name: "work_mem", Key: "tuning.workMem", Value: t.WorkMem.String()},
		{Name: "checkpoint_completion_target", Key: "tuning.checkpointCompletionTarget", Value: strconv.FormatFloat(t.CheckpointCompletionTarget, 'f', -1, 64)},
		{Name: "max_parallel_workers", Key: "tuning.maxParallelWorkers", Value: strconv.Itoa(t.MaxParallelWorkers)},
	}
}

// Settings returns the tuning as ordered name/value pairs: the guide's
// settings in the guide's order, then the extra ones by name.
func (t Tuning) Settings() [][2]string {
	return runtime.SettingPairs(t.typed(), t.Extra)
}

// ExtraInt reads an integer setting of the extra ones, or Postgres's
// default def when it is not set there.
func (t Tuning) ExtraInt(name string, def int) int {
	if n, err := strconv.Atoi(t.Extra[name]); err == nil {
		return n
	}
	return def
}

// Flags renders the tuning as arguments of the postgres command:
// ["-c", "shared_buffers=256MB", "-c", ...].
func (t Tuning) Flags() []string {
	var flags []string
	for _, kv := range t.Settings() {
		flags = append(flags, "-c", kv[0]+"="+kv[1])
	}
	return flags
}

// Command is the container command: the server with the tuning flags.
func (s Settings) Command() []string {
	return append([]string{"postgres"}, s.Tuning.Flags()...)
}

// HealthTest asks the server over TCP whether it accepts connections for the
// application's user and database. Over TCP, not the socket: the image's
// first-start initialisation runs a temporary server on the socket only, and
// that one must not count as ready.
func (s Settings) HealthTest() []string {
	return []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", s.User, "-d", s.Database}
}

var postgresIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Postgres's own bounds, as `postgres --describe-config` reports them
// (min_val, max_val; 64-bit builds, 8 kB blocks) and as its start-up
// checks apply them.
const (
	postgresBlock = 8 * units.KiB
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
	SharedMemoryPerConnection = 46 * units.KiB
)

// WorkerProcesses is max_worker_processes: the pool parallel workers come
// from.
func (t Tuning) WorkerProcesses() int {
	return t.ExtraInt("max_worker_processes", postgresMaxWorkerProcesses)
}

// ReservedConnections are the connection slots the application cannot
// use: superuser_reserved_connections and reserved_connections.
func (t Tuning) ReservedConnections() int {
	return t.ExtraInt("superuser_reserved_connections", postgresSuperuserReservedConnections) + t.ExtraInt("reserved_connections", 0)
}

// postgresSizes are the typed memory settings and their bounds.
func (t Tuning) sizes() []struct {
	key, name string
	v         units.PostgresSize
	min, max  int64
} {
	return []struct {
		key, name string
		v         units.PostgresSize
		min, max  int64
	}{
		{"tuning.sharedBuffers", "shared_buffers", t.SharedBuffers, 16 * postgresBlock, 1073741823 * postgresBlock},
		{"tuning.effectiveCacheSize", "effective_cache_size", t.EffectiveCacheSize, 1 * postgresBlock, 2147483647 * postgresBlock},
		{"tuning.workMem", "work_mem", t.WorkMem, 64 * units.KiB, 2147483647 * units.KiB},
	}
}

// postgresExtra are the rules of tuning.extra.
func (t Tuning) extraRules() runtime.ExtraRules {
	return runtime.ExtraRules{
		Server:  "Postgres",
		Name:    regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`),
		Example: "log_min_duration_statement",
		Typed:   t.typed(),
		Reserved: map[string]string{
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
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	units.CheckImage(&ps, "image", s.Image)
	for _, id := range [][2]string{{"database", s.Database}, {"user", s.User}} {
		if !postgresIdentifier.MatchString(id[1]) {
			ps.Add(id[0], "%q is not a plain Postgres identifier (lower-case letters, digits and _, at most 63)", id[1])
		}
	}
	switch {
	case s.User == Superuser:
		ps.Add("user", "%q is the superuser's name; the application's role must be another, which owns the database and nothing more", s.User)
	case strings.HasPrefix(s.User, "pg_"):
		ps.Add("user", "%q: Postgres reserves role names that begin with pg_", s.User)
	case s.User == transientOwner || s.User == transientSuper:
		ps.Add("user", "%q is a name the password step uses for a moment", s.User)
	}
	t := s.Tuning
	for _, sz := range t.sizes() {
		switch {
		case sz.v.Bytes() < sz.min:
			ps.Add(sz.key, "%q is below Postgres's minimum of %s for %s", sz.v.String(), units.PostgresSize(sz.min).String(), sz.name)
		case sz.v.Bytes() > sz.max:
			ps.Add(sz.key, "%q is above Postgres's maximum of %s for %s; the server would not start", sz.v.String(), units.PostgresSize(sz.max).String(), sz.name)
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
	t.extraRules().Check(&ps, "tuning.extra", t.Extra)
	if s.ShmSize < units.Size(units.MiB) {
		ps.Add("shmSize", "%q must be at least 1M", s.ShmSize.String())
	}
	// What the container's memory cannot hold: Postgres maps its shared
	// memory (the buffers, a slot per allowed connection) at start.
	limit := s.Resources.Limits.Memory
	limitKey := []string{"resources.limits.memory"}
	shared := t.SharedBuffers.Bytes() + int64(t.MaxConnections)*SharedMemoryPerConnection
	switch {
	case t.SharedBuffers.Bytes() >= limit.Bytes():
		ps.AddComparing("tuning.sharedBuffers", limitKey, "%q does not fit in the container's %q memory limit: Postgres maps its shared buffers at start, and the container is killed when they fill",
			t.SharedBuffers.String(), limit.String())
	case t.MaxConnections >= 1 && shared > limit.Bytes():
		ps.AddComparing("tuning.maxConnections", append(limitKey, "tuning.sharedBuffers"), "%d connections need at least %d MiB of shared memory with shared_buffers %q (Postgres maps about %d kB per allowed connection at start), more than the container's %q memory limit",
			t.MaxConnections, shared/units.MiB, t.SharedBuffers.String(), SharedMemoryPerConnection/units.KiB, limit.String())
	}
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// Args are the inputs of a Postgres component.
type Args struct {
	// Settings of the server; nil means DefaultSettings().
	Settings *Settings
	// Target is where the component deploys.
	runtime.Target
	// Password of the application role (User).
	Password pulumi.StringInput
	// SuperuserPassword is the superuser's (Superuser), which only the
	// password step uses of what this component runs.
	SuperuserPassword pulumi.StringInput
	// Network is the name of the (internal) network the server joins.
	Network pulumi.StringInput
	// KeepData protects the data volume and keeps it when the stack is destroyed.
	KeepData bool
	// PasswordRevision names the revision of Password: a new one runs the
	// password step again, as a new container (see setPassword).
	PasswordRevision secrets.Revision
	// SuperuserRevision names the revision of SuperuserPassword, likewise.
	SuperuserRevision secrets.Revision
	// Jobs are the runs of the jobs the last update recorded: a password
	// step whose last run failed runs again as its next attempt. Nil: none.
	Jobs runtime.JobRuns
}

// Postgres is the database server and its data volume.
type Postgres struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec runtime.Spec
	// Server is the container, or Swarm service, that runs it.
	Server pulumi.Resource
	Volume *docker.Volume
	// Host is the server's name on the data network.
	Host string
	// Port is the server's port on the data network.
	Port int
	// Database and User are the application's database and its owner, the
	// application's role; Superuser is the superuser's name.
	Database  string
	User      string
	Superuser string
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
	Jobs []runtime.JobRecord
}

// Paths inside the Postgres container.
const (
	postgresDataDir   = "/var/lib/postgresql/data"
	postgresSocketDir = "/var/run/postgresql"
	PasswordFile      = "/run/secrets/postgres-password"
	// SuperuserPasswordFile holds the superuser's password, in the password
	// step and the backup container only.
	SuperuserPasswordFile = "/run/secrets/postgres-superuser-password"
	Port                  = 5432
)

// Superuser is the database superuser's name: the only role that may do
// more than the application's own queries. The password step, the backups
// and restores log in as it; the backend, its roles and the migrations
// never do (see setPasswordScript).
const Superuser = "postgres"

// Roles the password step makes for a moment while it renames the image's
// bootstrap superuser (see setPasswordScript); Check keeps them from
// postgres.user.
const (
	transientOwner = "djangostack_new_owner"
	transientSuper = "djangostack_rename"
)

// setPasswordScript waits until the server accepts a superuser's
// connection, then makes the roles what the stack needs, whatever the
// cluster's past, and sets both passwords: the stack's superuser
// (Superuser) with SuperuserPasswordFile's password, and the application
// role (POSTGRES_USER) with PasswordFile's, owning the application's
// database and everything in it, and nothing more: no superuser,
// CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and a member of no role
// (pg_execute_server_program, pg_read_server_files and the like).
//
// The image makes POSTGRES_USER the cluster's bootstrap superuser when it
// creates the cluster, and Postgres never lets that role lose SUPERUSER.
// So the step renames it to Superuser and makes the application role anew:
// a stand-in role (transientOwner) gets the database and every object the
// bootstrap superuser owns in it (components/scripts/own.sql, one object at
// a time), then one transaction renames the bootstrap superuser to
// Superuser and the stand-in to POSTGRES_USER and sets the passwords. A
// client that logs in as POSTGRES_USER with its password gets the
// superuser before that commit and the new owner after it, so a running
// backend of a stack that was deployed before this step existed loses no
// request. On later runs the application role exists already: the step
// makes sure of its attributes, hands it what the superuser has come to own
// in the database since, and sets the passwords (a rotation).
//
// It logs in over PGHOST: the server's unix socket on one host, where the
// image trusts local connections; its name on the data network on a swarm,
// by password: as Superuser, or, before the rename, as the bootstrap
// superuser with the application role's password, which the image gave it.
//
// The wait is the step's own, so that nothing waits for the server's first
// Docker healthcheck, one probe interval after its start (10 s), when it is
// ready in about 2: the migration and the backend start that much earlier,
// and the update still waits for the server's own healthcheck alongside. On
// a first start the image's initialisation runs a temporary server on the
// socket with listen_addresses = ”; the server proper listens on the
// network, so the wait lasts until SHOW listen_addresses answers something.
// It gives up after readyWithin seconds, the longest the server's
// healthcheck takes to decide.
//
// psql reads the passwords from their files itself (\set with backquotes),
// and a login's password is in psql's environment, so that no password is
// on a command line: every process in a container shows in the host's ps.
func setPasswordScript(readyWithin int) string {
	return fmt.Sprintf(`set -eu
PGOPTIONS="-c client_min_messages=warning"
export PGOPTIONS
# as USER FILE ARGS...: psql as USER, with the password in FILE (the socket
# needs none).
as() {
  as_user=$1 as_file=$2
  shift 2
  PGPASSWORD=$(cat "$as_file") psql -X -U "$as_user" -d "$POSTGRES_DB" "$@"
}
deadline=$(( $(date +%%s) + %[1]d ))
login=
while :; do
  for candidate in "$POSTGRES_SUPERUSER `+SuperuserPasswordFile+`" "$POSTGRES_USER `+PasswordFile+`"; do
    # shellcheck disable=SC2086 # a name and a path, neither with spaces
    set -- $candidate
    if [ "$(as "$1" "$2" -qtA -c "SELECT rolsuper AND current_setting('listen_addresses') <> '' FROM pg_roles WHERE rolname = current_user" 2>/dev/null)" = t ]; then
      login=$candidate
      break 2
    fi
  done
  if [ "$(date +%%s)" -ge "$deadline" ]; then
    echo "postgres: not accepting connections %[1]d s after the step began (as $POSTGRES_SUPERUSER, or as $POSTGRES_USER while the image's superuser has its name)" >&2
    exit 1
  fi
  sleep 0.2
done
# shellcheck disable=SC2086
set -- $login
as "$1" "$2" -q -v ON_ERROR_STOP=1 -v db="$POSTGRES_DB" -v role="$POSTGRES_USER" -v superuser="$POSTGRES_SUPERUSER" <<'SQL'
`, readyWithin) + `\set password ` + "`cat " + PasswordFile + "`" + `
\set superuser_password ` + "`cat " + SuperuserPasswordFile + "`" + `
SELECT session_user AS me, session_user = :'role' AS convert, session_user <> :'superuser' AS rename \gset
\if :convert
\set owner ` + transientOwner + `
\else
\set owner :role
\endif
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') AS missing \gset
\if :missing
CREATE ROLE :"owner";
\endif
ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
SELECT format('REVOKE %I FROM %I', r.rolname, :'owner')
       || CASE WHEN current_setting('server_version_num')::int >= 160000 THEN format(' GRANTED BY %I', g.rolname) ELSE '' END
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles g ON g.oid = m.grantor
 WHERE m.member = :'owner'::regrole
\gexec
ALTER DATABASE :"db" OWNER TO :"owner";
` + ownSQL() + `
BEGIN;
\if :rename
CREATE ROLE ` + transientSuper + ` SUPERUSER NOLOGIN;
SET SESSION AUTHORIZATION ` + transientSuper + `;
ALTER ROLE :"me" RENAME TO :"superuser";
\if :convert
ALTER ROLE :"owner" RENAME TO :"role";
\endif
RESET SESSION AUTHORIZATION;
DROP ROLE ` + transientSuper + `;
\endif
ALTER ROLE :"superuser" PASSWORD :'superuser_password';
ALTER ROLE :"role" PASSWORD :'password';
COMMIT;
SQL
echo "postgres: $POSTGRES_USER owns $POSTGRES_DB and nothing more; the passwords of $POSTGRES_USER and $POSTGRES_SUPERUSER are the stack's"
`
}

// ownSQL is components/scripts/own.sql, which restores run too.
func ownSQL() string {
	b, err := scripts.Files.ReadFile("own.sql")
	if err != nil {
		panic(err) // embedded: present at build time
	}
	return strings.TrimRight(string(b), "\n")
}

// setPassword registers the one-shot step that makes the running cluster's
// roles the stack's and gives them the stack's passwords (see
// setPasswordScript). The image sets a password only when it creates the
// cluster; after a rotation (a new password) the step sets it in the
// existing one. It runs on the first deploy and again when what it does
// changes: the image, the script, the roles, the database or a password's
// revision, which its name carries with how it receives its password files
// (runtime.JobKey); or as its next attempt after a failed run (see runs). It does not wait for the server's container: it waits for
// the server itself.
//
// On one host it speaks to the server's socket, on no network; on a swarm,
// where the server may be on another node, over the data network, by
// password.
//
// A change is a new container next to the old one, never a replacement:
// the provider replaces a container delete-first, and the engine then
// replaces first whatever takes an input from it — the backend containers
// and the migration step, gated on the step's success — so a rotation
// stopped every backend before the new ones existed (seen on the real
// engine: the backend deleted at the start, the new one created 35 s later). Other changes of its
// settings (limits, logs, labels) are ignored for it for the same reason.
func setPassword(ctx *pulumi.Context, name string, args *Args, s Settings, server runtime.Workload, image pulumi.StringInput, socket pulumi.StringInput, host string, opts ...pulumi.ResourceOption) (*runtime.Job, error) {
	script := setPasswordScript(int(s.Healthcheck.ReadyWithin().Seconds()))
	key := runtime.JobKey(runtime.Spec{"image": server.ImageSource, "script": script, "user": s.User, "superuser": Superuser, "database": s.Database,
		"password": string(args.PasswordRevision), "superuserPassword": string(args.SuperuserRevision)})
	w := runtime.Workload{
		Name:    server.Name + "-password-" + key,
		Image:   image,
		Command: []string{"sh", "-c", script},
		Env:     map[string]string{"POSTGRES_USER": s.User, "POSTGRES_DB": s.Database, "POSTGRES_SUPERUSER": Superuser, "PGHOST": postgresSocketDir},
		Files: append(slices.Clip(server.Files), runtime.File{
			Path: SuperuserPasswordFile, Content: pulumi.ToSecret(args.SuperuserPassword).(pulumi.StringOutput), Mode: "0444", Secret: true,
		}),
		Privileges: server.Privileges,
		Volumes:    []runtime.VolumeMount{{Volume: socket, Target: postgresSocketDir}},
		Labels:     runtime.MergeMaps(server.Labels, map[string]string{naming.LabelComponent: "postgres-password"}),
		// The job needs no network: it speaks to the server's socket.
		Settings: s.ContainerSettings,
	}
	if args.Runtime == runtime.Swarm {
		w.Env["PGHOST"], w.Env["PGPORT"] = host, strconv.Itoa(Port)
		w.Volumes, w.Networks = nil, []pulumi.StringInput{args.Network}
	}
	return runtime.RunJob(ctx, name+"-password-"+key, args.Jobs, w, "setting the database password failed", "the running backend keeps the old one",
		[]string{"labels", "cpus", "memory", "memorySwap", "logDriver", "logOpts"}, opts...)
}

// Host is the Postgres container's name, which the backend and the
// backups resolve on the data network (DB_HOST).
func Host(n naming.Naming) string { return n.Name("postgres") }

// DataVolume is the Docker name of the Postgres data volume.
func DataVolume(n naming.Naming) string { return n.Name("postgres-data") }

// New registers the database server: its image, a data volume and a
// container that reads its password from a file, never from the environment.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Postgres, error) {
	if args == nil || args.Password == nil || args.SuperuserPassword == nil || args.Network == nil {
		return nil, errors.New("postgres: args with both passwords and a network are required")
	}
	s, err := problems.Resolve("postgres", args.Settings, DefaultSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Postgres{Host: Host(args.Naming), Port: Port, Database: s.Database, User: s.User, Superuser: Superuser}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Postgres", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := runtime.PullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	c.Volume, err = runtime.NewVolume(ctx, name+"-data", runtime.VolumeArgs{
		DockerName: DataVolume(args.Naming),
		Labels:     args.Naming.ComponentLabels("postgres"),
		Keep:       args.KeepData,
	}, parent)
	if err != nil {
		return nil, err
	}
	// The server's unix socket, in a volume a one-shot job can mount too.
	socket, err := runtime.NewVolume(ctx, name+"-socket", runtime.VolumeArgs{
		DockerName: args.Naming.Name("postgres-socket"),
		Labels:     args.Naming.ComponentLabels("postgres"),
	}, parent)
	if err != nil {
		return nil, err
	}
	w := runtime.Workload{
		Name:        c.Host,
		ImageSource: s.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		// The official image's; see stopExitScript.
		ImageEntrypoint: []string{"docker-entrypoint.sh"},
		Command:         s.Command(),
		Env: map[string]string{
			"POSTGRES_DB":            s.Database,
			"POSTGRES_USER":          s.User,
			"POSTGRES_PASSWORD_FILE": PasswordFile,
			"PGDATA":                 postgresDataDir,
		},
		// The image's entrypoint reads the file both as root and after
		// dropping to the postgres user, hence world-readable inside the
		// container; nothing else runs there.
		Files: []runtime.File{{Path: PasswordFile, Content: pulumi.ToSecret(args.Password).(pulumi.StringOutput), Mode: "0444", Secret: true}},
		Volumes: []runtime.VolumeMount{
			{Volume: c.Volume.Name, Target: postgresDataDir},
			{Volume: socket.Name, Target: postgresSocketDir},
		},
		// The image starts as root only to hand the data and socket
		// directories to postgres, which owns them already (a fresh volume
		// copies the image's ownership); as postgres it needs nothing.
		Privileges:  runtime.Privileges{User: "postgres"},
		Constraints: args.Constraints,
		Networks:    []pulumi.StringInput{args.Network},
		Labels:      args.Naming.ComponentLabels("postgres"),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
		ShmSize:     s.ShmSize,
	}
	c.Spec = w.Describe()
	c.Server, err = runtime.Register(ctx, args.Runtime, name, w, parent)
	if err != nil {
		return nil, err
	}
	c.URL = pulumi.ToSecret(pulumi.Sprintf("postgres://%s:%s@%s:%d/%s", s.User, args.Password, c.Host, Port, s.Database)).(pulumi.StringOutput)
	// The step runs a container on the host Pulumi talks to, on a swarm
	// too: the pulled image's id. On one host it waits for the server
	// itself, not its container; a swarm's service is created first, for
	// its name on the data network.
	jobOpts := []pulumi.ResourceOption{parent}
	if args.Runtime == runtime.Swarm {
		jobOpts = append(jobOpts, pulumi.DependsOn([]pulumi.Resource{c.Server}))
	}
	set, err := setPassword(ctx, name, args, s, w, image.ImageId, socket.Name, c.Host, jobOpts...)
	if err != nil {
		return nil, err
	}
	c.PasswordSet, c.Ready, c.Jobs = set.Passed, set.Container, []runtime.JobRecord{set.Record}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"host": pulumi.String(c.Host),
		"url":  c.URL,
	})
}

// Part describes Postgres to the stack; dataVolume is its data volume's
// Docker name, which its cost names.
func (s Settings) Part(dataVolume string) runtime.Part {
	return runtime.Part{Key: "postgres", Count: 1, Settings: s.ContainerSettings, Image: s.Image, Check: s.Check,
		Cost: runtime.FixedCost("its container is replaced, so the database restarts: it gets its stop timeout to shut down cleanly, " +
			"and requests that need it fail until it is healthy again (typically 10-30 s); the data volume " + dataVolume + " is kept")}
}
