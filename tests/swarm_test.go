package tests

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// swarmConfig is production's fixture config on a swarm.
func swarmConfig(t *testing.T) map[string]any {
	cfg := fixtureConfig(t, "production")
	cfg["runtime"] = "swarm"
	return cfg
}

func (r *run) service(name string) *Registration { return r.get(typeService, name) }

func TestSwarmRegistersServicesNotContainers(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	var services []string
	for _, s := range r.all(typeService) {
		services = append(services, s.Name)
	}
	if want := []string{"postgres", "redis", "backend", "nginx", "traefik", "traefik-docker-api", "backup"}; !sameSet(services, want) {
		t.Errorf("services = %v, want %v", services, want)
	}
	// The containers left are the one-shot steps: the password step and
	// the migrations.
	for _, c := range r.all(typeContainer) {
		if (role(c.Name) != "migrate" && role(c.Name) != "postgres-password") || c.input("attach") != true {
			t.Errorf("swarm registers the container %s", c.Name)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// swarmRuntime is what the guide's deploy block says of a service.
type swarmRuntime struct {
	limitNano, limitBytes, reserveNano, reserveBytes float64
	interval, timeout, startPeriod                   string
	retries                                          float64
}

func assertSwarmRuntime(t *testing.T, s *Registration, want swarmRuntime) {
	t.Helper()
	task := asMap(s.input("taskSpec"))
	res := asMap(task["resources"])
	checks := []struct {
		what      string
		got, want any
	}{
		{"limits", res["limits"], map[string]any{"nanoCpus": want.limitNano, "memoryBytes": want.limitBytes}},
		{"reservation", res["reservation"], map[string]any{"nanoCpus": want.reserveNano, "memoryBytes": want.reserveBytes}},
		{"restart policy", task["restartPolicy"], map[string]any{"condition": "on-failure", "delay": "5s", "maxAttempts": 3.0, "window": "2m"}},
		{"log driver", task["logDriver"], map[string]any{"name": "json-file", "options": map[string]any{"max-size": "10m", "max-file": "5"}}},
	}
	hc := asMap(asMap(task["containerSpec"])["healthcheck"])
	checks = append(checks,
		struct {
			what      string
			got, want any
		}{"healthcheck timing", []any{hc["interval"], hc["timeout"], hc["startPeriod"], hc["retries"]}, []any{want.interval, want.timeout, want.startPeriod, want.retries}})
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s %s = %#v\nwant %#v", s.Name, c.what, c.got, c.want)
		}
	}
}

func TestSwarmServicesCarryTheGuidesDeployBlock(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	const MiB = 1 << 20
	assertSwarmRuntime(t, r.service("postgres"), swarmRuntime{2e9, 1024 * MiB, 1e9, 512 * MiB, "10s", "5s", "10s", 5})
	assertSwarmRuntime(t, r.service("redis"), swarmRuntime{1e9, 768 * MiB, 5e8, 512 * MiB, "10s", "3s", "5s", 5})
	assertSwarmRuntime(t, r.service("backend"), swarmRuntime{2e9, 2048 * MiB, 1e9, 1024 * MiB, "30s", "10s", "1m", 3})
	assertSwarmRuntime(t, r.service("nginx"), swarmRuntime{5e8, 256 * MiB, 25e7, 64 * MiB, "30s", "5s", "10s", 3})
	assertSwarmRuntime(t, r.service("traefik"), swarmRuntime{1e9, 256 * MiB, 25e7, 64 * MiB, "10s", "5s", "10s", 3})

	pg := asMap(asMap(r.service("postgres").input("taskSpec"))["containerSpec"])
	if got := strings.Join(asStrings(pg["args"]), " "); !strings.HasPrefix(got, "postgres -c shared_buffers=256MB -c effective_cache_size=1GB -c max_connections=200") {
		t.Errorf("postgres args = %s", got)
	}
	// A tmpfs at /dev/shm, with no size: the provider panics on one
	// (kreuzwerker/terraform-provider-docker#563) and Docker ignores it
	// there for services (moby#35271).
	if m := fmtAny(pg["mounts"]); !strings.Contains(m, `"target":"/dev/shm","type":"tmpfs"`) || strings.Contains(m, "tmpfsOptions") {
		t.Errorf("postgres has no sizeless tmpfs at /dev/shm: %v", m)
	}
	rd := asMap(asMap(r.service("redis").input("taskSpec"))["containerSpec"])
	if got := strings.Join(asStrings(rd["args"]), " "); got != "redis-server /run/secrets/redis-auth.conf --maxmemory 512mb --maxmemory-policy allkeys-lru --save 60 1000 --appendonly yes --tcp-keepalive 300 --maxclients 10000" {
		t.Errorf("redis args = %s", got)
	}
}

// fmtAny renders a value as JSON, for substring checks.
func fmtAny(v any) string { return toJSON(v) }

func TestSwarmSecretsAreSwarmSecrets(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	secretFiles := map[string][]string{}
	for _, s := range r.all(typeService) {
		spec := asMap(asMap(s.input("taskSpec"))["containerSpec"])
		for _, sec := range asSlice(spec["secrets"]) {
			secretFiles[s.Name] = append(secretFiles[s.Name], asMap(sec)["fileName"].(string))
		}
		for k, v := range asMap(spec["env"]) {
			if strings.Contains(v.(string), "mock-secrets") {
				t.Errorf("%s env %s carries a secret", s.Name, k)
			}
		}
	}
	want := map[string][]string{
		"postgres": {"/run/secrets/postgres-password"},
		"redis":    {"/run/secrets/redis-auth.conf"},
		"backend":  {"/run/secrets/db_password", "/run/secrets/redis_password", "/run/secrets/secret_key"},
	}
	for name, files := range want {
		if !sameSet(secretFiles[name], files) {
			t.Errorf("%s secrets = %v, want %v", name, secretFiles[name], files)
		}
	}
	env := asMap(asMap(asMap(r.service("backend").input("taskSpec"))["containerSpec"])["env"])
	for _, k := range []string{"DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"} {
		if _, plain := env[k]; plain || env[k+"_FILE"] != "/run/secrets/"+strings.ToLower(k) {
			t.Errorf("backend %s: plain %v, file %v", k, plain, env[k+"_FILE"])
		}
	}
	for _, sec := range r.all(typeSecret) {
		if !sec.Inputs["data"].ContainsSecrets() {
			t.Errorf("swarm secret %s data is not a secret", sec.Name)
		}
	}
}

func TestSwarmBackendRollsStartFirstAndRollsBack(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	be := r.service("backend")
	if got := asMap(asMap(be.input("mode"))["replicated"])["replicas"]; got != 2.0 {
		t.Errorf("backend replicas = %v, want 2", got)
	}
	want := map[string]any{"parallelism": 1.0, "delay": "10s", "monitor": "30s", "order": "start-first", "failureAction": "rollback"}
	if got := asMap(be.input("updateConfig")); !reflect.DeepEqual(got, want) {
		t.Errorf("update config = %v, want %v", got, want)
	}
	rollback := asMap(be.input("rollbackConfig"))
	if rollback["order"] != "start-first" || rollback["failureAction"] != "pause" {
		t.Errorf("rollback config = %v", rollback)
	}
	if img := asMap(asMap(be.input("taskSpec"))["containerSpec"])["image"]; img != "registry.example.com/django-app:1.0.0@sha256:backend-image" {
		t.Errorf("backend service runs %v, want the image's repository digest", img)
	}
	labels := map[string]string{}
	for _, l := range asSlice(be.input("labels")) {
		labels[asMap(l)["label"].(string)] = asMap(l)["value"].(string)
	}
	if labels["traefik.http.services.django-stack-production-backend.loadbalancer.server.port"] != "8000" {
		t.Errorf("the backend service carries no Traefik labels: %v", labels)
	}
	if !dependsOn(be, "Backend$docker:index/container:Container::"+r.container("migrate").Name) {
		t.Errorf("the backend service does not wait for its migrations")
	}
}

func placement(s *Registration) []string {
	return asStrings(asMap(asMap(s.input("taskSpec"))["placement"])["constraints"])
}

func TestSwarmPlacementAndNetworks(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	for _, name := range []string{"postgres", "redis", "backup"} {
		if got := placement(r.service(name)); !reflect.DeepEqual(got, []string{"node.labels.djangostack.data == true"}) {
			t.Errorf("%s placement = %v, want the data node", name, got)
		}
	}
	if got := placement(r.service("traefik")); !reflect.DeepEqual(got, []string{"node.role == manager"}) {
		t.Errorf("traefik placement = %v, want a manager", got)
	}
	for _, n := range []string{"edge", "data"} {
		net := r.get(typeNetwork, n)
		if net.str("driver") != "overlay" || net.input("attachable") != true {
			t.Errorf("%s network driver %q attachable %v", n, net.str("driver"), net.input("attachable"))
		}
	}
	if r.get(typeNetwork, "data").input("internal") != true {
		t.Errorf("the data overlay is not internal")
	}
	ports := asSlice(asMap(r.service("traefik").input("endpointSpec"))["ports"])
	if len(ports) != 2 || asMap(ports[0])["publishMode"] != "host" {
		t.Errorf("traefik ports = %v", ports)
	}
	var static string
	for _, c := range r.all(typeServiceConfig) {
		if strings.HasPrefix(c.Name, "traefik-traefik") {
			static = decodeBase64(t, c.str("data"))
		}
	}
	doc := parseYAML(t, static)
	if at(doc, "providers.docker") != nil || at(doc, "providers.swarm.exposedByDefault") != false ||
		at(doc, "providers.swarm.network") != "django-stack-production-edge" || at(doc, "providers.swarm.refreshSeconds") != "2s" {
		t.Errorf("traefik does not use its Swarm provider: %v", at(doc, "providers"))
	}
}

func TestSwarmIsChecked(t *testing.T) {
	r := deploy(t, "production", with(t, "production", "runtime", "kubernetes"))
	if r.err == nil || !strings.Contains(r.err.Error(), `runtime: "kubernetes" is not a runtime`) {
		t.Errorf("runtime kubernetes: %v", r.err)
	}
	cfg := localConfig(t)
	cfg["runtime"] = "swarm"
	r = deploy(t, "local", cfg)
	if r.err == nil || !strings.Contains(r.err.Error(), "backend.image: must be set on a swarm") {
		t.Errorf("a local build on a swarm: %v", r.err)
	}
	if w := deployOK(t, "production", swarmConfig(t)).warnings; !hasKey(w, "swarm.sharedVolumes") {
		t.Errorf("two replicas on local volumes do not warn: %v", w)
	}
	cfg = swarmConfig(t)
	cfg["swarm"] = map[string]any{"sharedVolumes": map[string]any{"name": "local", "options": map[string]any{"type": "nfs", "o": "addr=10.0.0.2,rw", "device": ":/srv/media"}}}
	shared := deployOK(t, "production", cfg)
	if hasKey(shared.warnings, "swarm.sharedVolumes") {
		t.Errorf("shared volumes still warn")
	}
	mounts := fmtAny(asMap(asMap(shared.service("nginx").input("taskSpec"))["containerSpec"])["mounts"])
	if !strings.Contains(mounts, "nfs") {
		t.Errorf("nginx mounts lack the shared driver: %s", mounts)
	}
}

func TestSwarmTraefikConfigurationValidatesAgainstTheV3Schema(t *testing.T) {
	static, dynamic := traefikSchemas(t)
	r := deployOK(t, "production", withEdge(swarmConfig(t)))
	for _, c := range r.all(typeServiceConfig) {
		text := decodeBase64(t, c.str("data"))
		switch {
		case strings.HasPrefix(c.Name, "traefik-traefik"):
			doc, err := parseTraefikStatic(text)
			if err != nil {
				t.Fatal(err)
			}
			if err := static.check(doc); err != nil {
				t.Errorf("swarm traefik.yml is not valid Traefik v3:\n%v\n%s", err, text)
			}
		case strings.HasPrefix(c.Name, "traefik-dynamic"):
			if err := dynamic.check(parseYAML(t, text)); err != nil {
				t.Errorf("swarm dynamic.yml is not valid Traefik v3: %v", err)
			}
		}
	}
}

// What the real engine showed on a swarm (tests/e2e/deploy-swarm.sh): each
// of these made a deploy fail or a preview never settle.
func TestSwarmServicesAsTheProviderAndDockerTakeThem(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	goDuration := regexp.MustCompile(`^[0-9hm]+(m0s|h0m)$`)
	for _, s := range r.all(typeService) {
		// No virtual IP: it needs the kernel's IPVS, without which every
		// connection to a service's name fails (no route to host).
		if mode := asMap(s.input("endpointSpec"))["mode"]; mode != "dnsrr" {
			t.Errorf("%s endpoint mode = %v, want dnsrr", s.Name, mode)
		}
		// The provider reads durations back as "2m", not "2m0s".
		spec := fmtAny(s.input("taskSpec")) + fmtAny(s.input("updateConfig")) + fmtAny(s.input("rollbackConfig"))
		for _, d := range regexp.MustCompile(`"[0-9][0-9hms]*"`).FindAllString(spec, -1) {
			if goDuration.MatchString(strings.Trim(d, `"`)) {
				t.Errorf("%s has the duration %s, which the provider reads back shorter", s.Name, d)
			}
		}
		// And no variables as no map, not an empty one.
		if env, ok := asMap(asMap(s.input("taskSpec"))["containerSpec"])["env"]; ok && len(asMap(env)) == 0 {
			t.Errorf("%s has an empty env map", s.Name)
		}
		if strings.Contains(fmtAny(s.input("taskSpec")), "tmpfsOptions") {
			t.Errorf("%s has tmpfs options, on which the provider panics", s.Name)
		}
	}
}

// An image no registry knows (built or loaded on the node) has no
// repository digest: the service runs it by its id instead of an empty
// image, which Docker refuses.
func TestSwarmRunsAnImageNoRegistryKnowsByItsID(t *testing.T) {
	rec := newRecorder("production")
	rec.unregistered = true
	r := deployWith(t, rec, swarmConfig(t))
	if r.err != nil {
		t.Fatal(r.err)
	}
	for name, want := range map[string]string{"backend": "sha256:backend-image", "postgres": "sha256:postgres-image", "traefik": "sha256:traefik-image"} {
		if img := asMap(asMap(r.service(name).input("taskSpec"))["containerSpec"])["image"]; img != want {
			t.Errorf("%s service runs %q, want the image's id %q", name, img, want)
		}
	}
}

// documentedSwarmConfig is the config of the Swarm example in
// docs/operations.md: each `pulumi config set` of its section applied to
// production's fixture, each value typed as the CLI types it (with --path,
// integers and true/false are numbers and booleans; a top-level value is
// text).
func documentedSwarmConfig(t *testing.T) map[string]any {
	t.Helper()
	text := section(t, "../docs/operations.md", "## Outgrowing one host: Docker Swarm")
	cfg := fixtureConfig(t, "production")
	commands := regexp.MustCompile(`(?m)^pulumi config set (.*)$`).FindAllStringSubmatch(text, -1)
	if len(commands) == 0 {
		t.Fatal("the Swarm section of docs/operations.md sets no config")
	}
	for _, command := range commands {
		line, _, _ := strings.Cut(command[1], "#")
		var args []string
		path := false
		for _, arg := range strings.Fields(line) {
			switch arg {
			case "--path":
				path = true
			case "--secret", "--stack":
				t.Fatalf("the Swarm example uses %s, which this test does not read: %s", arg, command[0])
			default:
				args = append(args, strings.Trim(arg, `'"`))
			}
		}
		if len(args) != 2 {
			t.Fatalf("cannot read %q as a key and a value", command[0])
		}
		key, raw := args[0], args[1]
		if !path {
			cfg[key] = raw
			continue
		}
		var v any = raw
		if n, err := strconv.Atoi(raw); err == nil {
			v = n
		} else if raw == "true" || raw == "false" {
			v = raw == "true"
		}
		setPath(cfg, key, v)
	}
	return cfg
}

// TestDocsSwarmExampleDeploys: the Swarm example of docs/operations.md, as
// written, passes production's checks and guardrails: an example that a
// reader copies and the program refuses is what this guards against.
func TestDocsSwarmExampleDeploys(t *testing.T) {
	cfg := documentedSwarmConfig(t)
	if cfg["runtime"] != "swarm" {
		t.Fatalf("the Swarm example does not set runtime swarm: %v", cfg["runtime"])
	}
	r := deploy(t, "production", cfg)
	if r.err != nil {
		t.Fatalf("production refuses the Swarm example of docs/operations.md: %v", r.err)
	}
	replicas := asMap(asMap(r.service("backend").input("mode"))["replicated"])["replicas"]
	if want := asMap(cfg["backend"])["replicas"]; want != nil && replicas != float64(want.(int)) {
		t.Errorf("the backend service runs %v replicas, the example sets %v", replicas, want)
	}
}

// On a swarm, Traefik's provider reads services, tasks, networks and the
// nodes of the tasks through the Docker API proxy: those alone, GET only.
func TestSwarmDockerAPIPassesTheSwarmReads(t *testing.T) {
	r := deployOK(t, "production", swarmConfig(t))
	env := asMap(asMap(asMap(r.service("traefik-docker-api").input("taskSpec"))["containerSpec"])["env"])
	want := map[string]any{"POST": "0", "EVENTS": "1", "PING": "1", "VERSION": "1", "SERVICES": "1", "TASKS": "1", "NETWORKS": "1", "NODES": "1"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("the swarm's Docker API proxy lets through %v, want %v", env, want)
	}
}
