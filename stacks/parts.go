package stacks

import (
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"slices"
)

// A part is one kind of container the stack runs. Validation, the
// guardrails, the stack outputs, the specs and the change notes all read
// the parts from this one table: a new component is added here once, and
// its registration step records what it made (Deployment.record).
type part struct {
	// key is the part's config key, and its name in the specs, the
	// container outputs and the change notes.
	key string
	// count is how many containers of the part the host must hold: the
	// backend's replicas, the backup and its off-host copy.
	count int
	// off: the stack runs none of the part (backups off). Its settings
	// are still checked, but nothing of it is sized.
	off bool
	// replicated parts name their containers in the outputs key-1, key-2 …
	// whatever their number; the others by their key.
	replicated bool
	// settings are the part's resources, healthcheck, restart policy and
	// log rotation.
	settings runtime.ContainerSettings
	// image is the image reference the part runs as the config sets it at
	// key.image; "" when the part has no image of its own (the backup runs
	// postgres.image) or builds it (a backend with backend.build).
	image string
	// check reports what cannot work in the part's own settings, at keys
	// relative to key.
	check func() problems.Problems
	// cost says what replacing the part's container costs, given the spec
	// fields that changed, in the words a reviewer of a preview needs.
	cost func(changed []string) string
}

// fixedCost is a cost that does not depend on what changed.
func fixedCost(text string) func([]string) string {
	return func([]string) string { return text }
}

// parts is the table of the profile's parts, in the order the change notes
// list them. dataVolumes are the Docker names of the data volumes
// (postgres, media), which a cost may name.
func (p Profile) parts(dataVolumes map[string]string) []part {
	backup := part{key: "backup", settings: p.Backup.ContainerSettings, check: p.Backup.Check,
		cost: fixedCost("its container is replaced: a dump in progress is abandoned (never left half-written), " +
			"and the schedule goes on from the newest good dump; the dumps are kept")}
	switch {
	case !p.Backup.Enabled:
		backup.off = true
	case p.Backup.Offsite.Enabled():
		// The off-host copy has the backup's settings too.
		backup.count = 2
	default:
		backup.count = 1
	}
	return []part{
		{key: "postgres", count: 1, settings: p.Postgres.ContainerSettings, image: p.Postgres.Image, check: p.Postgres.Check,
			cost: fixedCost("its container is replaced, so the database restarts: it gets its stop timeout to shut down cleanly, " +
				"and requests that need it fail until it is healthy again (typically 10-30 s); the data volume " + dataVolumes["postgres"] + " is kept")},
		{key: "redis", count: 1, settings: p.Redis.ContainerSettings, image: p.Redis.Image, check: p.Redis.Check,
			cost: fixedCost("its container is replaced, so Redis restarts (a few seconds): the cache and the channel layer are " +
				"unavailable meanwhile, and channel messages in flight are lost; data comes back from the append-only file")},
		{key: "backend", count: p.Backend.Replicas, replicated: true, settings: p.Backend.ContainerSettings, image: p.Backend.Image, check: p.Backend.Check,
			cost: backendCost},
		{key: "nginx", count: 1, settings: p.Nginx.ContainerSettings, image: p.Nginx.Image, check: p.Nginx.Check,
			cost: fixedCost("its container is replaced: /static/ and /media/ answer 502 for a few seconds")},
		// Sized even when the stack joins the host's shared Traefik: its
		// settings are checked like every part's.
		{key: "traefik", count: 1, settings: p.Traefik.ContainerSettings, image: p.Traefik.Image, check: p.Traefik.Check,
			cost: fixedCost("its container is replaced: the whole site is unreachable for a few seconds while Traefik starts " +
				"again; its certificates are kept")},
		backup,
	}
}

func backendCost(changed []string) string {
	cost := "new backend containers start and must pass their healthcheck before the old ones stop: no request is dropped"
	if slices.Contains(changed, "image") {
		cost += "; the new image runs its migrations first, and a failure stops the update with the old containers serving"
	}
	return cost
}

// sized are the parts the stack runs: those whose limits, reservations and
// healthchecks the bounds and guardrails weigh.
func (p Profile) sized() []part {
	return slices.DeleteFunc(p.parts(nil), func(c part) bool { return c.off })
}
