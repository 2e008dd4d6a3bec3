package stacks

import (
	"fmt"
	"maps"

	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/stacks/engine"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// learnEngine is the Docker Engine the stack deploys to, and the notes
// that say how it was learnt when that matters. The daemon is asked first,
// over the stack's own connection; a daemon out of reach (a preview without
// the deploy's credentials) is taken as the last deployment recorded it,
// so that such a preview shows what an update would do and stays the same
// from one run to the next. With neither, the engine is unknown and
// treated as an old one: what every engine takes is deployed.
//
// A swarm is not asked: its services have no start interval.
func learnEngine(ctx *pulumi.Context, p Profile, prober engine.Prober, prev Previous) (engine.Version, []string) {
	if p.Runtime == runtime.Swarm {
		return engine.Version{}, nil
	}
	if prober == nil {
		prober = engine.Dial{}
	}
	v, err := prober.Probe(ctx.Context(), engine.Host{Docker: p.Host.Docker, SSHOpts: p.Host.SSHOpts})
	if err == nil {
		return v, nil
	}
	if prev.Engine.Known() {
		return prev.Engine, []string{fmt.Sprintf("could not ask the Docker host %s for its engine's version (%v): going by the last deployment's record, %s", p.Host.Docker, err, prev.Engine)}
	}
	return engine.Version{}, []string{fmt.Sprintf("could not ask the Docker host %s for its engine's version (%v), and no deployment recorded it: healthchecks get no start interval, as on an engine before Docker 25", p.Host.Docker, err)}
}

// withEngine fits the profile to the engine: every container's healthcheck
// that sets no start interval gets runtime.DefaultStartInterval on an
// engine that takes one. On an older engine nothing changes, and the note
// says so; a start interval set in the config stays as it is, and on an
// older engine a note says Docker will refuse it.
func withEngine(p Profile, v engine.Version) (Profile, []string) {
	if p.Runtime == runtime.Swarm {
		return p, nil
	}
	takes := v.AtLeast(engine.StartIntervalAPI)
	var notes []string
	if v.Known() && !takes {
		notes = append(notes, fmt.Sprintf("the Docker host %s runs %s: healthchecks get no start interval, which needs API %s (Docker 25); each container's first probe comes one interval after its start",
			p.Host.Docker, v, engine.StartIntervalAPI))
	}
	p.Backend.Roles = maps.Clone(p.Backend.Roles)
	p.eachHealthcheck(func(key string, h *runtime.Healthcheck) {
		switch {
		case takes:
			*h = h.WithStartInterval(runtime.DefaultStartInterval)
		case h.StartInterval != 0 && v.Known():
			notes = append(notes, fmt.Sprintf("%s.healthcheck.startInterval is set, and the Docker host %s runs %s, which refuses it (it needs API %s, Docker 25): the update stops at that container",
				key, p.Host.Docker, v, engine.StartIntervalAPI))
		}
	})
	return p, notes
}

// eachHealthcheck calls f with every container's healthcheck in the
// profile and its config key, to change it in place; the roles' map must
// be the profile's own.
func (p *Profile) eachHealthcheck(f func(key string, h *runtime.Healthcheck)) {
	f("postgres", &p.Postgres.Healthcheck)
	f("redis", &p.Redis.Healthcheck)
	f("backend", &p.Backend.Healthcheck)
	for name, role := range p.Backend.Roles {
		f("backend.roles."+name, &role.Healthcheck)
		p.Backend.Roles[name] = role
	}
	f("nginx", &p.Nginx.Healthcheck)
	f("traefik", &p.Traefik.Healthcheck)
	f("traefik.dockerApi", &p.Traefik.DockerAPI.Healthcheck)
	f("backup", &p.Backup.Healthcheck)
}

// engineOutput records the engine for the next deployment; nil when it is
// unknown.
func engineOutput(v engine.Version) pulumi.Input {
	if !v.Known() {
		return nil
	}
	return pulumi.StringMap{"apiVersion": pulumi.String(v.API), "version": pulumi.String(v.Engine)}
}

// recordedEngine reads the engine output back.
func recordedEngine(v any) engine.Version {
	m, _ := v.(map[string]any)
	api, _ := m["apiVersion"].(string)
	version, _ := m["version"].(string)
	return engine.Version{API: api, Engine: version}
}
