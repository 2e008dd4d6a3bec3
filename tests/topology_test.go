package tests

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestNetworks(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	edge, data := r.get(typeNetwork, "edge"), r.get(typeNetwork, "data")
	if edge.str("name") != "django-stack-production-edge" || edge.input("internal") != false {
		t.Errorf("edge network = %q internal %v", edge.str("name"), edge.input("internal"))
	}
	if data.str("name") != "django-stack-production-data" || data.input("internal") != true {
		t.Errorf("data network = %q internal %v, want internal", data.str("name"), data.input("internal"))
	}
	// No address on the host's side of the bridge: the host has no route to
	// Postgres and Redis either.
	if got := data.input("options"); !reflect.DeepEqual(got, map[string]any{"com.docker.network.bridge.inhibit_ipv4": "true"}) {
		t.Errorf("data network options %v, want the bridge without an address", got)
	}
	if got := edge.input("options"); got != nil {
		t.Errorf("edge network options %v, want none: Traefik publishes through it", got)
	}
	members := map[string][]string{}
	for _, c := range r.all(typeContainer) {
		for _, n := range c.networks() {
			members[n] = append(members[n], role(c.Name))
		}
	}
	for _, m := range members {
		sort.Strings(m)
	}
	want := map[string][]string{
		"django-stack-production-edge": {"backend-1", "backend-2", "nginx", "traefik"},
		"django-stack-production-data": {"backend-1", "backend-2", "backup", "migrate", "postgres", "redis"},
		// The Docker API reaches Traefik alone.
		"django-stack-production-docker-api-net": {"traefik", "traefik-docker-api"},
	}
	if !reflect.DeepEqual(members, want) {
		t.Errorf("network members = %v\nwant %v", members, want)
	}
}

func TestOnlyTraefikPublishesPorts(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	for _, c := range r.all(typeContainer) {
		if ports := asSlice(c.input("ports")); len(ports) > 0 && c.Name != "traefik" {
			t.Errorf("%s publishes %v", c.Name, ports)
		}
	}
}

func TestVolumes(t *testing.T) {
	for _, tc := range []struct {
		stack string
		keep  bool
	}{{"production", true}, {"staging", false}} {
		r := deployOK(t, tc.stack, fixtureConfig(t, tc.stack))
		prefix := "django-stack-" + tc.stack + "-"
		want := map[string]struct {
			dockerName string
			kept       bool
		}{
			"postgres-data":        {prefix + "postgres-data", tc.keep},
			"media":                {prefix + "media", tc.keep},
			"redis-data":           {prefix + "redis-data", false},
			"static":               {prefix + "static", false},
			"traefik-certificates": {prefix + "traefik-certificates", false},
			"postgres-socket":      {prefix + "postgres-socket", false},
		}
		// The dumps outlive the stack everywhere; protected where the data is.
		backups := r.get(typeVolume, "backup-dumps")
		if backups.str("name") != prefix+"backups" || !backups.RetainOnDelete || backups.Protect != tc.keep {
			t.Errorf("%s backups volume %q retain %v protect %v", tc.stack, backups.str("name"), backups.RetainOnDelete, backups.Protect)
		}
		var volumes []*Registration
		for _, v := range r.all(typeVolume) {
			if strings.Contains(v.Name, "-files-") {
				checkFileVolume(t, r, v)
				continue
			}
			if v.Name != "backup-dumps" {
				volumes = append(volumes, v)
			}
		}
		if len(volumes) != len(want) {
			t.Errorf("%s has %d volumes, want %d", tc.stack, len(volumes), len(want))
		}
		for _, v := range volumes {
			w, ok := want[v.Name]
			if !ok {
				t.Errorf("%s: unexpected volume %s", tc.stack, v.Name)
				continue
			}
			if v.str("name") != w.dockerName {
				t.Errorf("%s volume %s is named %q, want %q", tc.stack, v.Name, v.str("name"), w.dockerName)
			}
			if v.Protect != w.kept || v.RetainOnDelete != w.kept {
				t.Errorf("%s volume %s protect=%v retainOnDelete=%v, want both %v", tc.stack, v.Name, v.Protect, v.RetainOnDelete, w.kept)
			}
		}
		pg := r.container("postgres")
		mounted := false
		for _, v := range asSlice(pg.input("volumes")) {
			m := asMap(v)
			mounted = mounted || (m["volumeName"] == prefix+"postgres-data" && m["containerPath"] == "/var/lib/postgresql/data")
		}
		if !mounted {
			t.Errorf("%s: postgres does not mount its data volume at PGDATA", tc.stack)
		}
	}
}

func TestEveryDockerNameCarriesProjectAndStack(t *testing.T) {
	names := map[string]string{}
	for _, stack := range []string{"production", "staging", "pr-42"} {
		r := deployOK(t, stack, fixtureConfig(t, "staging"))
		for _, typ := range []string{typeContainer, typeNetwork, typeVolume} {
			for _, reg := range r.all(typ) {
				name := reg.str("name")
				if name == "django-stack-ingress" && stack == "staging" {
					continue // the host's ingress network, which staging runs for its clones
				}
				if !strings.HasPrefix(name, "django-stack-"+stack+"-") {
					t.Errorf("%s %s %s is named %q", stack, typ, reg.Name, name)
				}
				if other, taken := names[name]; taken {
					t.Errorf("%q is used by %s and %s", name, other, stack)
				}
				names[name] = stack
			}
		}
		for _, c := range r.all(typeContainer) {
			labels := c.labels()
			if labels["djangostack.project"] != "django-stack" || labels["djangostack.stack"] != stack {
				t.Errorf("%s container %s labels %v", stack, c.Name, labels)
			}
		}
	}
}

func TestGeneratedSecrets(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	want := map[string]struct {
		length  float64
		special bool
		charset string
	}{
		"secrets-postgres-password":           {32, false, ""},
		"secrets-postgres-superuser-password": {32, false, ""},
		"secrets-redis-password":              {32, false, ""},
		"secrets-django-secret-key":           {50, true, "!@#%^&*(-_=+)"},
	}
	passwords := r.all(typeRandomPassword)
	if len(passwords) != len(want) {
		t.Fatalf("%d generated passwords, want %d", len(passwords), len(want))
	}
	for _, p := range passwords {
		w := want[p.Name]
		if p.num("length") != w.length || p.input("special") != w.special {
			t.Errorf("%s length %v special %v, want %v %v", p.Name, p.num("length"), p.input("special"), w.length, w.special)
		}
		if w.special && (p.str("overrideSpecial") != w.charset || strings.Contains(p.str("overrideSpecial"), "$")) {
			t.Errorf("%s special characters %q, want %q", p.Name, p.str("overrideSpecial"), w.charset)
		}
	}
	secrets := r.deployment.Secrets
	for name, out := range map[string]pulumi.StringOutput{
		"database password": secrets.DatabasePassword, "superuser password": secrets.SuperuserPassword,
		"redis password": secrets.RedisPassword, "secret key": secrets.DjangoSecretKey,
	} {
		if res := await(t, out); !res.Secret {
			t.Errorf("the %s is not a secret output", name)
		}
	}
}

func TestStackOutputs(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	out := r.deployment.Outputs
	urls := await(t, out["urls"].(pulumi.StringArray).ToStringArrayOutput())
	if !reflect.DeepEqual(urls.Value, []string{"https://example.com/", "https://www.example.com/"}) || urls.Secret {
		t.Errorf("urls = %v (secret %v)", urls.Value, urls.Secret)
	}
	containers := await(t, out["containers"].(pulumi.StringMap).ToStringMapOutput())
	wantContainers := map[string]string{
		"postgres":   "django-stack-production-postgres",
		"redis":      "django-stack-production-redis",
		"backend-1":  "django-stack-production-backend-" + r.deployment.Backend.Fingerprint + "-1",
		"backend-2":  "django-stack-production-backend-" + r.deployment.Backend.Fingerprint + "-2",
		"nginx":      "django-stack-production-nginx",
		"traefik":    "django-stack-production-traefik",
		"docker-api": "django-stack-production-docker-api",
		"backup":     "django-stack-production-backup",
	}
	if !reflect.DeepEqual(containers.Value, wantContainers) {
		t.Errorf("containers = %v\nwant %v", containers.Value, wantContainers)
	}
	for name, want := range map[string]string{
		"databaseUrl": "postgres://app:mock-secrets-postgres-password@django-stack-production-postgres:5432/app",
		"redisUrl":    "redis://:mock-secrets-redis-password@django-stack-production-redis:6379/0",
	} {
		res := await(t, out[name].(pulumi.StringOutput))
		if res.Value != want || !res.Secret {
			t.Errorf("%s = %v (secret %v), want %s, secret", name, res.Value, res.Secret, want)
		}
	}
	// backupctl hands the host's ssh options to the docker CLI's ssh.
	if _, ok := out["sshOpts"]; !ok {
		t.Error("no sshOpts output")
	}
	for name := range out {
		if !slices.Contains([]string{"urls", "containers", "databaseUrl", "redisUrl", "specs", "dataVolumes", "jobs", "dockerHost", "sshOpts", "runtime", "backends", "fingerprintKey", "engine", "backendImage", "previousBackendImage"}, name) {
			t.Errorf("unexpected output %s", name)
		}
	}
}

// No plain secret in any Pulumi.*.yaml: a key that names a secret must hold
// a `secure:` value.
func TestNoPlainSecretsInStackConfigs(t *testing.T) {
	files, _ := filepath.Glob("../Pulumi.*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %v, want the production, staging and local configs", files)
	}
	secretish := regexp.MustCompile(`(?i)(password|secret|token|apikey|api_key|private)[a-z_]*:\s*([^\s#].*)$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if m := secretish.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(m[2]), "secure:") && strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s:%d holds a plain secret: %s", f, i+1, line)
			}
		}
	}
}

// checkFileVolume: a volume that holds a container's files is mounted
// read-only by that one running container, and written by its writer.
func checkFileVolume(t *testing.T, r *run, v *Registration) {
	t.Helper()
	var readers, writers []string
	for _, c := range r.rec.regs {
		if c.Type != typeContainer {
			continue
		}
		for _, m := range asSlice(c.input("volumes")) {
			if asMap(m)["volumeName"] != v.str("name") {
				continue
			}
			if c.isFileWriter() {
				writers = append(writers, c.Name)
			} else if asMap(m)["readOnly"] == true {
				readers = append(readers, c.Name)
			} else {
				t.Errorf("%s: %s mounts %s writable", r.stack, c.Name, v.str("name"))
			}
		}
	}
	if len(readers) != 1 || len(writers) != 1 || writers[0] != readers[0]+"-files" {
		t.Errorf("%s: volume %s is read by %v and written by %v, want one container and its writer", r.stack, v.str("name"), readers, writers)
	}
}
