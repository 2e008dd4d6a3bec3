package stacks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"testing"

	"github.com/djangostack/infra/stacks"
	"github.com/djangostack/infra/stacks/stackname"
	"gopkg.in/yaml.v3"
)

// flatten renders a profile as dotted key -> value, in config syntax.
func flatten(t *testing.T, p stacks.Profile) map[string]string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(joinPath(prefix, k), e)
			}
		default:
			j, _ := json.Marshal(x)
			out[prefix] = string(j)
		}
	}
	walk("", doc)
	return out
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// diff lists the keys whose values differ, as "key: a -> b".
func diff(a, b map[string]string) []string {
	var out []string
	for k, va := range a {
		if vb := b[k]; va != vb {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, va, vb))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (none) -> %s", k, vb))
		}
	}
	sort.Strings(out)
	return out
}

func TestProductionIsTheGuide(t *testing.T) {
	if d := diff(flatten(t, stacks.Base()), flatten(t, stacks.ForStack(stackname.Production))); len(d) != 0 {
		t.Errorf("production differs from the guide: %v", d)
	}
}

func TestStagingDiffersFromProductionExactlyWhereIntended(t *testing.T) {
	want := []string{
		`backend.replicas: 2 -> 1`,
		`backend.resources.limits.cpus: "2.0" -> "1.0"`,
		`backend.resources.limits.memory: "2G" -> "1G"`,
		`backend.resources.reservations.cpus: "1.0" -> "0.5"`,
		`backend.resources.reservations.memory: "1G" -> "512M"`,
		`backend.workers: 4 -> 2`,
		`backup.interval: "6h" -> "1d"`,
		`backup.keep: 28 -> 7`,
		`backup.maxAge: "30d" -> "14d"`,
		`edge.manageZone: true -> false`,
		`host.cpus: "6.0" -> "2.0"`,
		`host.memory: "8G" -> "4G"`,
		`keepData: true -> false`,
		`postgres.resources.limits.cpus: "2.0" -> "1.0"`,
		`postgres.resources.limits.memory: "1G" -> "512M"`,
		`postgres.resources.reservations.cpus: "1.0" -> "0.5"`,
		`postgres.resources.reservations.memory: "512M" -> "256M"`,
		`postgres.tuning.effectiveCacheSize: "1GB" -> "384MB"`,
		`postgres.tuning.maxConnections: 200 -> 100`,
		`postgres.tuning.maxParallelWorkers: 4 -> 2`,
		`postgres.tuning.sharedBuffers: "256MB" -> "128MB"`,
		`redis.resources.limits.cpus: "1.0" -> "0.5"`,
		`redis.resources.limits.memory: "768M" -> "384M"`,
		`redis.resources.reservations.cpus: "0.5" -> "0.25"`,
		`redis.resources.reservations.memory: "512M" -> "256M"`,
		`redis.tuning.maxMemory: "512mb" -> "256mb"`,
		`traefik.ingress: "own" -> "host"`,
	}
	got := diff(flatten(t, stacks.Base()), flatten(t, stacks.Staging()))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("staging - production:\n%s\nwant:\n%s", lines(got), lines(want))
	}
}

func TestLocalIsStagingOnPlainHTTP(t *testing.T) {
	got := diff(flatten(t, stacks.Staging()), flatten(t, stacks.Local()))
	want := []string{
		`backend.build.context: "" -> "examples/backend"`,
		`backend.build.dockerfile: "" -> "Dockerfile"`,
		`backend.resources.limits.memory: "1G" -> "512M"`,
		`backend.resources.reservations.cpus: "0.5" -> "0.25"`,
		`backend.resources.reservations.memory: "512M" -> "256M"`,
		`backup.enabled: true -> false`,
		`domains: null -> ["localhost"]`,
		`host.docker: "" -> "unix:///var/run/docker.sock"`,
		`postgres.resources.reservations.cpus: "0.5" -> "0.25"`,
		`postgres.resources.reservations.memory: "256M" -> "128M"`,
		`redis.resources.limits.memory: "384M" -> "256M"`,
		`redis.resources.reservations.cpus: "0.25" -> "0.1"`,
		`redis.resources.reservations.memory: "256M" -> "64M"`,
		`redis.tuning.maxMemory: "256mb" -> "160mb"`,
		`tls: true -> false`,
		`traefik.bindAddress: "" -> "127.0.0.1"`,
		`traefik.httpPort: 80 -> 8080`,
		`traefik.ingress: "host" -> "own"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("local - staging:\n%s\nwant:\n%s", lines(got), lines(want))
	}
}

// A clone is staging, but joins the Traefik that staging runs for the host.
func TestUnknownStacksAreClonesOfStaging(t *testing.T) {
	for _, stack := range []string{"pr-42", "feature-x", "qa"} {
		want := []string{`edge.proxied: true -> false`, `traefik.ingress: "host" -> "join"`}
		if d := diff(flatten(t, stacks.Staging()), flatten(t, stacks.ForStack(stack))); !reflect.DeepEqual(d, want) {
			t.Errorf("%s differs from staging: %v, want %v", stack, d, want)
		}
	}
}

func TestProfilesShareNoMutableState(t *testing.T) {
	a := stacks.Base()
	a.Nginx.Gzip.Types[0] = "changed"
	a.Traefik.Metrics.Buckets[0] = 99
	b := stacks.Base()
	if b.Nginx.Gzip.Types[0] == "changed" || b.Traefik.Metrics.Buckets[0] == 99 {
		t.Error("two profiles share a slice")
	}
}

// TestPulumiYamlRequiresNoConfig: the engine refuses to run a stack that
// lacks a key Pulumi.yaml declares without a default, before the program
// starts, and every stack leaves most keys at its profile's values. So no
// key may be declared without one: the program checks the keys itself.
func TestPulumiYamlRequiresNoConfig(t *testing.T) {
	b, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Name    string `yaml:"name"`
		Runtime struct {
			Name    string            `yaml:"name"`
			Options map[string]string `yaml:"options"`
		} `yaml:"runtime"`
		Config map[string]map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &project); err != nil {
		t.Fatal(err)
	}
	if project.Name != "django-stack" || project.Runtime.Name != "go" {
		t.Errorf("project %q, runtime %q; want django-stack, go", project.Name, project.Runtime.Name)
	}
	// A fixed build target, which `go build` finds up to date, instead of a
	// fresh link into a temporary file on every preview; under bin/, which
	// git ignores.
	if target := project.Runtime.Options["buildTarget"]; target != "bin/django-stack" {
		t.Errorf("runtime.options.buildTarget = %q, want bin/django-stack", target)
	}
	for k, decl := range project.Config {
		if _, ok := decl["default"]; !ok {
			t.Errorf("Pulumi.yaml declares config %s without a default: the engine would refuse every stack that does not set it", k)
		}
	}
}

func lines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}
