package stacks

import (
	"fmt"
	"strings"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
	"github.com/djangostack/infra/stacks/stackname"
)

// A guardrail is a rule that the guide's numbers silently rely on. A profile
// can break one and still deploy, which is why each is checked here: in
// production a broken guardrail is an error, in every other stack a warning.
type guardrail struct {
	// rule names the guardrail (docs/configuration.md, tests).
	rule string
	// public guardrails protect a site other hosts can reach; a stack that
	// publishes on the loopback interface only (local) skips them.
	public bool
	// advisory guardrails stay warnings even in production: they point at a
	// risk that depends on the load, not at a broken promise.
	advisory bool
	// productionOnly guardrails hold what only production promises; staging
	// and its clones are built to be thrown away.
	productionOnly bool
	check          func(p Profile) problems.Problems
}

var guardrails = []guardrail{
	{rule: "cors", public: true, check: checkCORS},
	{rule: "tls", public: true, check: checkTLS},
	{rule: "keep-data", productionOnly: true, check: checkKeepData},
	{rule: "pinned-images", public: true, check: checkPinnedImages},
	{rule: "limits-cover-reservations", check: checkLimitsCoverReservations},
	{rule: "reservations-fit-host", check: checkReservationsFitHost},
	{rule: "healthcheck-timing", check: checkHealthcheckTiming},
	{rule: "redis-headroom", check: checkRedisHeadroom},
	{rule: "postgres-memory", check: checkPostgresMemory},
	{rule: "postgres-workers", check: checkPostgresWorkers},
	{rule: "postgres-connections", check: checkPostgresConnections},
	{rule: "postgres-work-mem", advisory: true, check: checkPostgresWorkMem},
	{rule: "uploads-in-memory", check: checkUploadsInMemory},
	{rule: "swarm-shared-files", advisory: true, check: checkSwarmSharedFiles},
}

// Guardrails checks a stack's profile against every guardrail and sorts the
// findings into errors (production) and warnings (elsewhere, and advisory).
func Guardrails(stack string, p Profile) (errs, warnings problems.Problems) {
	for _, g := range guardrails {
		if (g.public && !p.Traefik.Public()) || (g.productionOnly && stack != stackname.Production) {
			continue
		}
		found := g.check(p)
		if stack == stackname.Production && !g.advisory {
			errs = append(errs, found...)
		} else {
			warnings = append(warnings, found...)
		}
	}
	return errs, warnings
}

func checkCORS(p Profile) (ps problems.Problems) {
	if p.Backend.CORS.AllowAllOrigins {
		ps.Add("backend.cors.allowAllOrigins", "true lets every website call the API from its visitors' browsers; list the origins that may in backend.cors.allowedOrigins (the guide: CORS_ALLOW_ALL_ORIGINS=False)")
	}
	for i, text := range p.Backend.CORS.AllowedOrigins {
		if o, err := units.ParseOrigin(text); err == nil && o.Scheme != "https" {
			ps.Add(fmt.Sprintf("backend.cors.allowedOrigins[%d]", i), "%q is not https; a public API trusts only pages served over TLS", text)
		}
	}
	return ps
}

func checkTLS(p Profile) (ps problems.Problems) {
	if !p.TLS {
		ps.Add("tls", "false serves the site, its session cookies and its CSRF tokens over plain http; set tls: true")
	}
	return ps
}

func checkKeepData(p Profile) (ps problems.Problems) {
	if !p.KeepData {
		ps.Add("keepData", "false lets `pulumi destroy`, or a change that replaces a volume, delete the Postgres data and the uploaded media; set keepData: true")
	}
	return ps
}

func checkPinnedImages(p Profile) (ps problems.Problems) {
	if p.Backend.Image == "" && p.Backend.Build.Context != "" {
		ps.Add("backend.build.context", "%q builds the backend on the machine running Pulumi, so what runs depends on that checkout; set backend.image to a pinned image from your registry", p.Backend.Build.Context)
	}
	for _, c := range p.parts(nil) {
		if ref, err := units.ParseImageRef(c.Image); err == nil && !ref.Pinned() {
			ps.Add(c.ConfigKey()+".image", "%q is not pinned, so two deploys of the same config may run different code; use a version tag (%s:1.4.2) or a digest (%s@sha256:…)", c.Image, ref.Repository, ref.Repository)
		}
	}
	return ps
}

func checkLimitsCoverReservations(p Profile) (ps problems.Problems) {
	for _, c := range p.sized() {
		r := c.Settings.Resources
		if r.Reservations.CPUs > r.Limits.CPUs {
			ps.AddComparing(c.ConfigKey()+".resources.reservations.cpus", []string{c.ConfigKey() + ".resources.limits.cpus"}, "%q is above the limit %q: the reservation promises CPU that the limit takes away; keep each reservation at or under its limit",
				r.Reservations.CPUs.String(), r.Limits.CPUs.String())
		}
	}
	return ps
}

func checkReservationsFitHost(p Profile) (ps problems.Problems) {
	var cpus units.CPUs
	var memory units.Size
	var cpuParts, memoryParts, cpuKeys, memoryKeys []string
	for _, c := range p.sized() {
		r := c.Settings.Resources.Reservations
		cpuKeys = append(cpuKeys, c.ConfigKey()+".resources.reservations.cpus")
		memoryKeys = append(memoryKeys, c.ConfigKey()+".resources.reservations.memory")
		cpus += units.CPUs(c.Count) * r.CPUs
		memory += units.Size(c.Count) * r.Memory
		cpuParts = append(cpuParts, share(c, r.CPUs.String()))
		memoryParts = append(memoryParts, share(c, r.Memory.String()))
	}
	if cpus > p.Host.CPUs+1e-9 {
		ps.AddComparing("host.cpus", cpuKeys, "%q is less than the %s CPUs the containers reserve (%s); reservations that do not fit the host are not honoured under contention: raise host.cpus to the real size or lower the reservations",
			p.Host.CPUs.String(), cpus.String(), strings.Join(cpuParts, ", "))
	}
	if memory > p.Host.Memory {
		ps.AddComparing("host.memory", memoryKeys, "%q is less than the %s the containers reserve (%s); reservations that do not fit the host are not honoured when memory runs short: raise host.memory to the real size or lower the reservations",
			p.Host.Memory.String(), memory.String(), strings.Join(memoryParts, ", "))
	}
	return ps
}

func share(c runtime.Part, amount string) string {
	if c.Count == 1 {
		return c.ConfigKey() + " " + amount
	}
	return fmt.Sprintf("%s %d x %s", c.ConfigKey(), c.Count, amount)
}

func checkHealthcheckTiming(p Profile) (ps problems.Problems) {
	for _, c := range p.sized() {
		h := c.Settings.Healthcheck
		if h.Timeout >= h.Interval {
			ps.AddComparing(c.ConfigKey()+".healthcheck.timeout", []string{c.ConfigKey() + ".healthcheck.interval"}, "%q is not below the interval %q: a hanging probe would still run when the next one is due, and a dead container is noticed late; keep the timeout under the interval",
				h.Timeout.String(), h.Interval.String())
		}
	}
	return ps
}

// redisHeadroom is the share of its memory limit Redis may fill with data:
// the guide's 512mb under 768M.
const redisHeadroomNum, redisHeadroomDen = 2, 3

func checkRedisHeadroom(p Profile) (ps problems.Problems) {
	limit := p.Redis.Resources.Limits.Memory.Bytes()
	maxmemory := p.Redis.Tuning.MaxMemory.Bytes()
	// At or above the limit it cannot work at all: Validate says so.
	if maxmemory*redisHeadroomDen > limit*redisHeadroomNum && maxmemory < limit {
		ps.AddComparing("redis.tuning.maxMemory", []string{"redis.resources.limits.memory"}, "%q leaves %s of the %q container limit; keep maxmemory at most two thirds of the limit (the guide: 512mb under 768M): a snapshot or AOF rewrite forks Redis, and the copy-on-write pages of a busy data set need that room, or the kernel kills Redis",
			p.Redis.Tuning.MaxMemory.String(), mib(limit-maxmemory), p.Redis.Resources.Limits.Memory.String())
	}
	return ps
}

// postgresSharedBuffersPercent is the most of its memory limit Postgres
// should give shared_buffers: the guide's 256MB of 1G is 25%.
const postgresSharedBuffersPercent = 40

var postgresLimit = []string{"postgres.resources.limits.memory"}

func checkPostgresMemory(p Profile) (ps problems.Problems) {
	limit := p.Postgres.Resources.Limits.Memory.Bytes()
	t := p.Postgres.Tuning
	// At or above the limit it cannot work at all: Validate says so.
	if t.SharedBuffers.Bytes()*100 > limit*postgresSharedBuffersPercent && t.SharedBuffers.Bytes() < limit {
		ps.AddComparing("postgres.tuning.sharedBuffers", postgresLimit, "%q is %d%% of the %q memory limit; keep it at most %d%% (the guide: 256MB of 1G): the rest is for the connections' work_mem, maintenance and the page cache",
			t.SharedBuffers.String(), t.SharedBuffers.Bytes()*100/limit, p.Postgres.Resources.Limits.Memory.String(), postgresSharedBuffersPercent)
	}
	if t.EffectiveCacheSize.Bytes() > limit {
		ps.AddComparing("postgres.tuning.effectiveCacheSize", postgresLimit, "%q is above the %q memory limit; the planner would count on a cache the container cannot have and pick plans that then read from disk",
			t.EffectiveCacheSize.String(), p.Postgres.Resources.Limits.Memory.String())
	}
	return ps
}

func checkPostgresWorkers(p Profile) (ps problems.Problems) {
	t := p.Postgres.Tuning
	if pool := t.WorkerProcesses(); t.MaxParallelWorkers > pool {
		ps.AddComparing("postgres.tuning.maxParallelWorkers", []string{"postgres.tuning.extra"}, "%d is above max_worker_processes (%d); parallel workers come out of that pool, so the extra ones never start: raise tuning.extra.max_worker_processes (it needs a restart) or lower this",
			t.MaxParallelWorkers, pool)
	}
	return ps
}

func checkPostgresConnections(p Profile) (ps problems.Problems) {
	t := p.Postgres.Tuning
	reserved := t.ReservedConnections()
	held := p.Backend.Replicas * p.Backend.Workers
	if need := held + reserved; t.MaxConnections < need {
		ps.AddComparing("postgres.tuning.maxConnections", []string{"backend.replicas", "backend.workers", "postgres.tuning.extra"}, "%d is below what the backends can hold open: %d replicas x %d workers x 1 persistent connection each (CONN_MAX_AGE=%d) + %d reserved = %d; past max_connections requests fail with \"too many clients\"",
			t.MaxConnections, p.Backend.Replicas, p.Backend.Workers, p.Backend.Database.ConnMaxAge.Seconds(), reserved, need)
	}
	return ps
}

func checkPostgresWorkMem(p Profile) (ps problems.Problems) {
	t := p.Postgres.Tuning
	limit := p.Postgres.Resources.Limits.Memory.Bytes()
	if total := t.WorkMem.Bytes() * int64(t.MaxConnections); total > limit {
		ps.AddComparing("postgres.tuning.workMem", append(postgresLimit, "postgres.tuning.maxConnections"), "%q x %d connections = %s, above the %q memory limit; every connection may use work_mem per sort or hash at once, so a busy moment can get Postgres killed for memory",
			t.WorkMem.String(), t.MaxConnections, mib(total), p.Postgres.Resources.Limits.Memory.String())
	}
	return ps
}

// checkUploadsInMemory: each worker may hold a request body and an upload
// of the in-memory limits at once. One that cannot fit the container at
// all is an error everywhere (backend.Settings.Check).
func checkUploadsInMemory(p Profile) (ps problems.Problems) {
	b := p.Backend
	limit := b.Resources.Limits.Memory
	for _, u := range []struct {
		key  string
		size units.Size
	}{{"backend.uploads.dataMaxMemorySize", b.Uploads.DataMaxMemorySize}, {"backend.uploads.fileMaxMemorySize", b.Uploads.FileMaxMemorySize}} {
		if total := u.size * units.Size(b.Workers); total > limit && u.size < limit {
			ps.AddComparing(u.key, []string{"backend.workers", "backend.resources.limits.memory"}, "%q x %d workers = %s, above the container's %q memory limit: each worker may hold one such request in memory at once",
				u.size.String(), b.Workers, mib(total.Bytes()), limit.String())
		}
	}
	return ps
}

func checkSwarmSharedFiles(p Profile) (ps problems.Problems) {
	shared := p.Swarm.SharedVolumes.Name != "" || len(p.Swarm.SharedVolumes.Options) > 0
	if p.Runtime == runtime.Swarm && p.Backend.Replicas > 1 && !shared {
		ps.Add("swarm.sharedVolumes", "is not set while %d backend replicas may run on different nodes: each node then has its own media and static volumes, and an upload is only served by the node that took it; give the volumes a shared driver (NFS) or keep to one node",
			p.Backend.Replicas)
	}
	return ps
}

func mib(bytes int64) string { return fmt.Sprintf("%d MiB", bytes/units.MiB) }
