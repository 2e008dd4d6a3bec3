package tests

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/stacks/engine"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var (
	docker2010  = engine.Version{API: "1.41", Engine: "20.10.24+dfsg1"}
	unreachable = errors.New("dial unix /var/run/docker.sock: connect: permission denied")
)

// deployOn runs the program for a stack whose host runs the engine given.
func deployOn(t *testing.T, stack string, cfg map[string]any, eng *fakeEngine) *run {
	t.Helper()
	rec := newRecorder(stack)
	rec.engine = eng
	return deployWith(t, rec, cfg)
}

// deployOnAfter is deployOn as the next update after an earlier run.
func deployOnAfter(t *testing.T, before *run, cfg map[string]any, eng *fakeEngine) *run {
	t.Helper()
	rec := newRecorder(before.stack)
	rec.engine = eng
	return deployAfterWith(t, before, rec, cfg)
}

// healthchecks are the healthchecks of the containers that run, by part.
func (r *run) healthchecks() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, c := range r.all(typeContainer) {
		if h, ok := c.input("healthcheck").(map[string]any); ok && !c.isFileWriter() {
			out[role(c.Name)] = h
		}
	}
	return out
}

// notesAbout are the program's logged warnings that contain s.
func (r *run) notesAbout(s string) []string {
	var out []string
	for _, w := range r.logged {
		if strings.Contains(w, s) {
			out = append(out, w)
		}
	}
	return out
}

// On an engine that takes a start interval (API 1.44, Docker 25), every
// container's healthcheck gets one by default and nothing else of it
// changes; on an older engine none is sent (Docker 20.10 refuses the
// container), and one note says so. A value the config sets wins.
func TestStartIntervalFollowsTheEngine(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	old := deployOn(t, "production", cfg, &fakeEngine{version: docker2010})
	current := deployOn(t, "production", cfg, &fakeEngine{version: engine.Version{API: "1.44", Engine: "25.0.0"}})
	for _, r := range []*run{old, current} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	oldChecks, currentChecks := old.healthchecks(), current.healthchecks()
	if len(currentChecks) < 6 {
		t.Fatalf("only %d containers with a healthcheck: %v", len(currentChecks), currentChecks)
	}
	for name, h := range currentChecks {
		if h["startInterval"] != "1s" {
			t.Errorf("Docker 25: %s startInterval = %v, want 1s", name, h["startInterval"])
		}
		before := oldChecks[name]
		if _, set := before["startInterval"]; set {
			t.Errorf("Docker 20.10: %s has a startInterval %v", name, before["startInterval"])
		}
		for _, field := range []string{"interval", "timeout", "retries", "startPeriod", "tests"} {
			if toJSON(h[field]) != toJSON(before[field]) {
				t.Errorf("%s %s = %v on Docker 25, %v on 20.10: the start interval changes nothing else", name, field, h[field], before[field])
			}
		}
	}
	if notes := old.notesAbout("no start interval"); len(notes) != 1 || !strings.Contains(notes[0], "20.10.24") || !strings.Contains(notes[0], "API 1.44") {
		t.Errorf("Docker 20.10: notes %q, want one that names the engine and API 1.44", notes)
	}
	if notes := current.notesAbout("start interval"); len(notes) != 0 {
		t.Errorf("Docker 25: notes %q, want none", notes)
	}

	cfg["postgres"] = map[string]any{"healthcheck": map[string]any{"startInterval": "3s"}}
	set := deployOn(t, "production", cfg, &fakeEngine{version: engine.Version{API: "1.45"}})
	if got := set.healthchecks()["postgres"]["startInterval"]; got != "3s" {
		t.Errorf("postgres startInterval set to 3s renders %v", got)
	}
	refused := deployOn(t, "production", cfg, &fakeEngine{version: docker2010})
	if got := refused.healthchecks()["postgres"]["startInterval"]; got != "3s" {
		t.Errorf("on Docker 20.10, postgres startInterval set to 3s renders %v: what the config sets wins", got)
	}
	if notes := refused.notesAbout("postgres.healthcheck.startInterval is set"); len(notes) != 1 || !strings.Contains(notes[0], "refuses") {
		t.Errorf("on Docker 20.10 a set start interval gets notes %q, want one that says Docker refuses it", notes)
	}
}

// The engine is asked over the stack's own connection; a host out of reach
// fails nothing. A preview that cannot reach it goes by the last
// deployment's record, so it shows no change against that deployment;
// without a record it deploys what every engine takes.
func TestAnEngineOutOfReachFailsNothing(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	asked := &fakeEngine{version: engine.Version{API: "1.45", Engine: "26.1.5"}}
	first := deployOn(t, "production", cfg, asked)
	if first.err != nil {
		t.Fatal(first.err)
	}
	host := cfg["host"].(map[string]any)
	if len(asked.asked) != 1 || asked.asked[0].Docker != host["docker"] || toJSON(asked.asked[0].SSHOpts) != toJSON(host["sshOpts"]) {
		t.Errorf("asked %v, want once, the stack's host.docker and host.sshOpts (%v)", asked.asked, host)
	}
	if got := toJSON(await(t, pulumi.ToOutput(first.deployment.Outputs["engine"])).Value); got != `{"apiVersion":"1.45","version":"26.1.5"}` {
		t.Errorf("engine output %s", got)
	}

	for _, tc := range []struct {
		name     string
		run      func() *run
		interval any
		note     string
		changes  bool
	}{
		{"out of reach, with a record", func() *run { return deployOnAfter(t, first, cfg, &fakeEngine{err: unreachable}) }, "1s", "the last deployment's record, Docker 26.1.5, API 1.45", false},
		{"out of reach, never deployed", func() *run { return deployOn(t, "production", cfg, &fakeEngine{err: unreachable}) }, nil, "no deployment recorded it", false},
		{"upgraded from 20.10", func() *run {
			old := deployOn(t, "production", cfg, &fakeEngine{version: docker2010})
			return deployOnAfter(t, old, cfg, asked)
		}, "1s", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			if r.err != nil {
				t.Fatalf("the run failed: %v", r.err)
			}
			for name, h := range r.healthchecks() {
				if h["startInterval"] != tc.interval {
					t.Errorf("%s startInterval = %v, want %v", name, h["startInterval"], tc.interval)
				}
			}
			if tc.note != "" {
				if notes := r.notesAbout(tc.note); len(notes) != 1 || !strings.Contains(notes[0], unreachable.Error()) {
					t.Errorf("notes %q, want one with %q and the error", r.logged, tc.note)
				}
			}
			changed := r.notesAbout("healthcheck changed")
			if tc.changes != (len(changed) > 0) {
				t.Errorf("notes of a changed healthcheck: %q, want some: %v", changed, tc.changes)
			}
		})
	}
}

// A changed healthcheck takes effect: Docker never applies one to a
// running container, so the container is replaced (delete-first, under the
// same name), and the backend's containers, named after their spec, are new
// ones, created before the old ones go.
func TestAChangedHealthcheckReplacesTheContainer(t *testing.T) {
	cfg := fixtureConfig(t, "production")
	old := deployOn(t, "production", cfg, &fakeEngine{version: docker2010})
	current := deployOnAfter(t, old, cfg, &fakeEngine{version: engine.Version{API: "1.45"}})
	for _, c := range current.all(typeContainer) {
		if _, ok := c.input("healthcheck").(map[string]any); !ok || c.isFileWriter() {
			continue
		}
		if !slices.Equal(c.ReplaceOnChanges, []string{"healthcheck"}) || !c.DeleteBeforeReplace {
			t.Errorf("%s: replaceOnChanges %v, deleteBeforeReplace %v; want [healthcheck], true", c.Name, c.ReplaceOnChanges, c.DeleteBeforeReplace)
		}
	}
	if old.deployment.Backend.Fingerprint == current.deployment.Backend.Fingerprint {
		t.Error("the backend's containers keep their names when their healthcheck changes")
	}
}

// A swarm is not asked: its services have no start interval
// (pulumi-docker 4.10), and nothing is recorded.
func TestASwarmIsNotAskedForItsEngine(t *testing.T) {
	asked := &fakeEngine{version: engine.Version{API: "1.45"}}
	r := deployOn(t, "production", swarmConfig(t), asked)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(asked.asked) != 0 {
		t.Errorf("a swarm's engine was asked: %v", asked.asked)
	}
	if _, ok := r.deployment.Outputs["engine"]; ok {
		t.Error("a swarm records an engine")
	}
}

// Traefik's Docker API proxy mounts the socket of the daemon the stack
// deploys through: a second daemon on the host listens on another.
func TestTheDockerAPIProxyMountsTheStacksSocket(t *testing.T) {
	for _, tc := range []struct{ docker, want string }{
		{"unix:///var/run/docker.sock", "/var/run/docker.sock"},
		{"unix:///run/docker-current/docker.sock", "/run/docker-current/docker.sock"},
		{"ssh://deploy@203.0.113.10", "/var/run/docker.sock"},
	} {
		cfg := fixtureConfig(t, "production")
		cfg["host"].(map[string]any)["docker"] = tc.docker
		if !strings.HasPrefix(tc.docker, "ssh") {
			delete(cfg["host"].(map[string]any), "sshOpts")
		}
		r := deployOK(t, "production", cfg)
		var mounts []string
		for _, c := range r.all(typeContainer) {
			if c.str("name") != "django-stack-production-docker-api" {
				continue
			}
			for _, v := range asSlice(c.input("volumes")) {
				if m := asMap(v); m["containerPath"] == "/var/run/docker.sock" {
					mounts = append(mounts, m["hostPath"].(string))
				}
			}
		}
		if !slices.Equal(mounts, []string{tc.want}) {
			t.Errorf("host.docker %s: the proxy mounts %v, want %s", tc.docker, mounts, tc.want)
		}
	}
}
