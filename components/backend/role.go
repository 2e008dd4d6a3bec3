package backend

import (
	"maps"
	"regexp"
	"slices"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Role is a process of the backend's image other than the web server: a
// Celery or Channels worker, a scheduler (what Kamal calls a role). It runs
// the backend's image with its own command and gets the backend's
// environment contract and secrets (as files), on the data network only: it
// joins no Traefik route and publishes nothing. It is released with the web
// containers: the same image, after the same migration step.
type Role struct {
	// Command the role runs, through the image's entrypoint (required; the
	// reference backend's worker: ["python3", "manage.py", "runworker",
	// "tasks"]).
	Command []string `json:"command"`
	// Replicas is the number of the role's containers (default 1; 0 runs
	// none and keeps the role's settings).
	Replicas int `json:"replicas"`
	// HealthTest is the role's healthcheck command in Docker's form,
	// ["CMD", …] or ["CMD-SHELL", "…"] (required: a worker has no port to
	// probe; the reference backend's: ["CMD", "python3",
	// "/app/docker/worker_health.py"]).
	HealthTest []string `json:"healthTest"`
	// Env are further plain variables of the role, over backend.env; like
	// it, they cannot replace a variable of the contract.
	Env map[string]string `json:"env"`
	runtime.ContainerSettings
}

// DefaultRole is what a role the config names starts from: one container
// of 1 CPU and 512 MiB (a reservation of 0.25 CPU and 256 MiB), probed every
// 30 s after a 30 s start period, with the guide's restart policy and log
// rotation, and 30 s to stop, as a web container gets.
func DefaultRole() Role {
	return Role{
		Replicas: 1,
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(1, 512, 0.25, 256),
			runtime.Healthcheck{Interval: units.Seconds(30), Timeout: units.Seconds(10), Retries: 3, StartPeriod: units.Seconds(30)},
			units.Seconds(30)),
	}
}

// Defaults is what a new entry of backend.roles starts from in config.
func (Role) Defaults() any { return DefaultRole() }

// roleName is a role's name: it names the role's containers
// ("django-stack-production-worker-<digest>-1") and its key in the stack's
// outputs, so it is short, lower-case and DNS-safe.
var roleName = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`)

// reservedRoleNames are the names a role cannot take: those of the stack's
// other parts and steps, whose Docker names and output keys it would share.
var reservedRoleNames = []string{"backend", "web", "migrate", "postgres", "redis", "nginx", "traefik", "backup", "offsite", "data", "edge", "static", "media", "ingress", "secrets"}

// Check reports a role that cannot run.
func (r Role) Check() problems.Problems {
	var ps problems.Problems
	if len(r.Command) == 0 || r.Command[0] == "" {
		ps.Add("command", "is required: the role's process, e.g. [\"python3\", \"manage.py\", \"runworker\", \"tasks\"]")
	}
	if r.Replicas < 0 {
		ps.Add("replicas", "%d must not be negative (0 runs none)", r.Replicas)
	}
	switch {
	case len(r.HealthTest) == 0:
		ps.Add("healthTest", "is required: a command that exits 0 while the role works, e.g. [\"CMD\", \"python3\", \"/app/docker/worker_health.py\"]")
	case r.HealthTest[0] == "CMD" && len(r.HealthTest) > 1, r.HealthTest[0] == "CMD-SHELL" && len(r.HealthTest) == 2:
	default:
		ps.Add("healthTest", "%q is not a healthcheck in Docker's form: [\"CMD\", program, args…] or [\"CMD-SHELL\", \"command\"]", r.HealthTest)
	}
	checkEnv(&ps, r.Env)
	ps = append(ps, r.ContainerSettings.Check()...)
	return ps
}

// checkRoles reports each role's problems at roles.<name>.
func checkRoles(roles map[string]Role) problems.Problems {
	var ps problems.Problems
	for _, name := range slices.Sorted(maps.Keys(roles)) {
		key := "roles." + name
		switch {
		case !roleName.MatchString(name):
			ps.Add(key, "%q is not a role name: a lower-case letter, then at most 19 lower-case letters or digits (e.g. worker)", name)
		case slices.Contains(reservedRoleNames, name):
			ps.Add(key, "%q is the name of a part of the stack; name the role otherwise (e.g. worker, scheduler)", name)
		}
		ps.Merge(key, roles[name].Check())
	}
	return ps
}

// RoleNames are the roles in the order they are registered and listed.
func (s Settings) RoleNames() []string { return slices.Sorted(maps.Keys(s.Roles)) }

// roleWorkload is a role's workload: the web replica's image, contract,
// secrets and labels' deployment, with the role's command, healthcheck and
// container settings, on the data network, with the media volume and no
// route. It neither migrates nor collects static files: the release's
// migration step and the web containers do.
func roleWorkload(web runtime.Workload, args *Args, name string, r Role) runtime.Workload {
	w := web
	w.Command = r.Command
	w.Env = runtime.MergeMaps(web.Env, r.Env, map[string]string{"RUN_MIGRATIONS": units.PythonBool(false), "COLLECT_STATIC": units.PythonBool(false)})
	w.Volumes = []runtime.VolumeMount{{Volume: args.MediaVolume, Target: MediaRoot, Driver: args.SharedVolumes}}
	w.Networks = []pulumi.StringInput{args.DataNetwork}
	w.Labels = args.Naming.ComponentLabels(name)
	w.HealthTest = r.HealthTest
	w.Settings = r.ContainerSettings
	w.Replicas = r.Replicas
	return w
}

// Parts describe the backend's web containers and each role to the stack.
func (s Settings) Parts() []runtime.Part {
	parts := []runtime.Part{{Key: "backend", Count: s.Replicas, Replicated: true, Settings: s.ContainerSettings, Image: s.Image, Check: s.Check, Cost: webCost}}
	for _, name := range s.RoleNames() {
		r := s.Roles[name]
		parts = append(parts, runtime.Part{Key: name, Config: "backend.roles." + name, Count: r.Replicas, Replicated: true, Settings: r.ContainerSettings,
			Cost: runtime.FixedCost("new containers of the role start and must pass their healthcheck before the old ones stop; " +
				"the old ones get their stop timeout to finish what they hold")})
	}
	return parts
}

func webCost(changed []string) string {
	cost := "new backend containers start and must pass their healthcheck before the old ones stop: no request is dropped"
	if slices.Contains(changed, "image") {
		cost += "; the new image runs its migrations first, and a failure stops the update with the old containers serving"
	}
	return cost
}
