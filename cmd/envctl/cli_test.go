package main

// These tests drive envctl against the real pulumi CLI and a file backend in
// a temporary directory. Stack and config commands need no plugin and no
// language host, so they run anywhere the CLI does; `pulumi up` does not run
// here (no provider plugins, no images).
//
// The CLI is built from the Go module proxy by .ci/pulumi-cli into a cache.
// The tests are not behind a build tag: they compile with every `go test
// ./...` and run whenever that CLI is there. Locally they skip without it,
// naming the command that builds it; under CI=true they fail, so that CI
// cannot pass by skipping them. They take about half a minute, most of it
// the CLI deriving passphrase keys; `go test -short ./...` skips them.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/tests/skipped"
	"gopkg.in/yaml.v3"
)

const (
	passphrase = "envctl-test-passphrase"
	// The secure value staging carries, and the generated secret its state
	// holds; neither may be readable from the clone except the first, through
	// the clone's own key.
	apiToken        = "cf-token-of-staging"
	stagingPassword = "generated-for-staging-only"
)

// pulumiCLI is the CLI the tests drive: $PULUMI_CLI, or the one
// .ci/pulumi-cli keeps for the SDK version in go.mod.
func pulumiCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives the pulumi CLI for about half a minute; not with -short")
	}
	cli := os.Getenv("PULUMI_CLI")
	if cli == "" {
		mod, err := os.ReadFile("../../go.mod")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`github\.com/pulumi/pulumi/sdk/v3 (v\S+)`).FindSubmatch(mod)
		if m == nil {
			t.Fatal("go.mod requires no github.com/pulumi/pulumi/sdk/v3")
		}
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		cli = filepath.Join(cache, "django-stack", "pulumi-cli-"+string(m[1]), "bin", "pulumi")
	}
	if _, err := os.Stat(cli); err != nil {
		what, install := "no pulumi CLI at "+cli, "build it with .ci/pulumi-cli, minutes the first time, or set PULUMI_CLI"
		if os.Getenv("CI") == "true" {
			t.Fatal(fmt.Sprintf("%s (%s)", what, install))
		}
		skipped.Skip(t, what, install)
	}
	return cli
}

// project is a copy of the repository's Pulumi project in a temporary
// directory, on a file backend of its own, with staging and production as
// the tests' fixtures (tests/testdata/stacks) make them: the shipped
// Pulumi.<stack>.yaml files are a team's to fill with its real facts, and
// with secure values of its own passphrase.
type project struct {
	t   *testing.T
	cli string
	dir string
}

func newProject(t *testing.T) *project {
	cli := pulumiCLI(t)
	p := &project{t: t, cli: cli, dir: t.TempDir()}
	for _, from := range []string{"../../Pulumi.yaml", "../../tests/testdata/stacks/Pulumi.staging.yaml", "../../tests/testdata/stacks/Pulumi.production.yaml"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, filepath.Base(from)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	backend := t.TempDir()
	// envctl and the Automation API find the CLI on PATH, as in CI.
	t.Setenv("PATH", filepath.Dir(cli)+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PULUMI_BACKEND_URL", "file://"+backend)
	// No credentials, workspaces or plugins of the user's.
	t.Setenv("PULUMI_HOME", t.TempDir())
	t.Setenv("PULUMI_ACCESS_TOKEN", "")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", passphrase)
	t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "")
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")

	p.pulumi("stack", "init", "staging", "--no-select")
	p.pulumi("config", "set", "--secret", "cloudflare:apiToken", apiToken, "--stack", "staging")
	p.pulumi("stack", "init", "production", "--no-select")
	p.importState("staging", stagingPassword, true)
	return p
}

// pulumi runs the CLI in the project and returns its stdout; it fails the
// test if the command fails.
func (p *project) pulumi(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("pulumi %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (p *project) try(args ...string) (string, error) {
	cmd := exec.Command(p.cli, append([]string{"--non-interactive"}, args...)...)
	cmd.Dir = p.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// envctl runs envctl in the project.
func (p *project) envctl(args ...string) (code int, stdout, stderr string) {
	p.t.Helper()
	return envctlRun(p.t, append([]string{"--dir", p.dir}, args...)...)
}

// importState gives a stack state as a deploy leaves it: a stack output
// holding a secret, and with password a generated password resource (whose
// deletion would need the random plugin). Secrets are stored encrypted under
// the stack's key. The CLI imports state without any plugin.
func (p *project) importState(stack, secret string, password bool) {
	p.t.Helper()
	urn := func(typ, name string) string { return "urn:pulumi:" + stack + "::django-stack::" + typ + "::" + name }
	// Pulumi's marker for a secret value, here in plain text; the import
	// encrypts it.
	secretValue := map[string]any{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": fmt.Sprintf("%q", secret)}
	root := urn("pulumi:pulumi:Stack", "django-stack-"+stack)
	resources := []map[string]any{{"urn": root, "custom": false, "type": "pulumi:pulumi:Stack", "outputs": map[string]any{"databaseUrl": secretValue}}}
	if password {
		provider := urn("pulumi:providers:random", "default_4_18_0")
		resources = append(resources,
			map[string]any{"urn": provider, "custom": true, "id": "provider-id", "type": "pulumi:providers:random"},
			map[string]any{
				"urn": urn("random:index/randomPassword:RandomPassword", "postgres-password"), "custom": true, "id": "none",
				"type": "random:index/randomPassword:RandomPassword", "provider": provider + "::provider-id", "parent": root,
				"outputs": map[string]any{"result": secretValue},
			})
	}
	deployment := map[string]any{
		"version": 3,
		"deployment": map[string]any{
			"manifest": map[string]any{"time": "2026-01-01T00:00:00Z", "magic": "", "version": ""},
			// The stack's own passphrase secrets manager encrypts the secrets;
			// without one this CLI panics on import.
			"secrets_providers": map[string]any{"type": "passphrase", "state": map[string]any{"salt": p.stackFile(stack).EncryptionSalt}},
			"resources":         resources,
		},
	}
	b, err := json.Marshal(deployment)
	if err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(p.t.TempDir(), "state.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.pulumi("stack", "import", "--stack", stack, "--file", file)
}

// stackNames are the backend's stacks, as the CLI lists them.
func (p *project) stackNames() []string {
	p.t.Helper()
	var stacks []struct{ Name string }
	if err := json.Unmarshal([]byte(p.pulumi("stack", "ls", "--json")), &stacks); err != nil {
		p.t.Fatal(err)
	}
	var names []string
	for _, s := range stacks {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// config is a stack's config in plain text, as `pulumi config --json` gives it.
func (p *project) config(stack string) map[string]any {
	p.t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(p.pulumi("config", "--show-secrets", "--json", "--stack", stack)), &cfg); err != nil {
		p.t.Fatal(err)
	}
	return cfg
}

// stackFile is a stack's Pulumi.<stack>.yaml as stored: its encryption salt
// and its config, secure values as ciphertext.
type stackFile struct {
	EncryptionSalt string         `yaml:"encryptionsalt"`
	Config         map[string]any `yaml:"config"`
}

func (p *project) stackFile(stack string) stackFile {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "Pulumi."+stack+".yaml"))
	if err != nil {
		p.t.Fatal(err)
	}
	var f stackFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		p.t.Fatal(err)
	}
	return f
}

func (f stackFile) secure(key string) string {
	v, _ := f.Config[key].(map[string]any)
	s, _ := v["secure"].(string)
	return s
}

// export is a stack's state as stored, secrets as ciphertext. Reading it
// needs no key, so it is cheap: each decryption costs the CLI about a second
// of key derivation.
func (p *project) export(stack string) string {
	p.t.Helper()
	return p.pulumi("stack", "export", "--stack", stack)
}

// exportSecrets is a stack's state with its secrets in plain text.
func (p *project) exportSecrets(stack string) string {
	p.t.Helper()
	return p.pulumi("stack", "export", "--show-secrets", "--stack", stack)
}

func TestCloneWithPulumiCLI(t *testing.T) {
	p := newProject(t)
	if !strings.Contains(p.exportSecrets("staging"), stagingPassword) {
		t.Fatal("staging's imported state lacks its generated password: the no-state-copied check below would prove nothing")
	}
	// Staging as it is before any envctl command; every later check that
	// staging was left alone compares its stored state with this.
	stagingState := p.export("staging")
	stagingUntouched := func(t *testing.T, after string) {
		t.Helper()
		if p.export("staging") != stagingState {
			t.Errorf("staging's state changed %s", after)
		}
	}

	code, stdout, stderr := p.envctl("clone", "--from", "staging", "--to", "pr-42")
	if code != exitOK {
		t.Fatalf("envctl clone: status %d\n%s", code, stderr)
	}
	t.Logf("envctl clone:\n%s", stdout)
	for _, want := range []string{"\n  pr-42.staging.example.com\n", "pulumi up --stack pr-42"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("envctl clone printed\n%s\nwant it to contain %q", stdout, want)
		}
	}

	stagingConfig := p.config("staging")
	t.Run("config copied", func(t *testing.T) {
		clone := p.config("pr-42")
		if !equalJSON(stagingConfig, clone) {
			t.Errorf("pr-42's config differs from staging's:\nstaging: %v\npr-42:   %v", stagingConfig, clone)
		}
		token, _ := clone["cloudflare:apiToken"].(map[string]any)
		if token["value"] != apiToken || token["secret"] != true {
			t.Errorf("pr-42's cloudflare:apiToken = %v, want the secret %q", token, apiToken)
		}
	})

	t.Run("secure values re-encrypted under the clone's key", func(t *testing.T) {
		staging, clone := p.stackFile("staging"), p.stackFile("pr-42")
		if clone.EncryptionSalt == "" || clone.EncryptionSalt == staging.EncryptionSalt {
			t.Errorf("pr-42's encryption salt %q, staging's %q: want one of its own", clone.EncryptionSalt, staging.EncryptionSalt)
		}
		sc, cc := staging.secure("cloudflare:apiToken"), clone.secure("cloudflare:apiToken")
		if cc == "" || cc == sc {
			t.Errorf("pr-42's stored cloudflare:apiToken %q, staging's %q: want a ciphertext of its own", cc, sc)
		}
		// The clone's ciphertext opens with the clone's key and not with
		// staging's: the same file, once with each salt.
		if got, err := p.decrypt(clone.EncryptionSalt, cc); err != nil || got != apiToken {
			t.Errorf("pr-42's token under pr-42's key: %q, %v; want %q", got, err, apiToken)
		}
		if got, err := p.decrypt(staging.EncryptionSalt, cc); err == nil {
			t.Errorf("pr-42's token opened with staging's key (%q): it is not encrypted under a key of its own", got)
		}
	})

	t.Run("no state copied", func(t *testing.T) {
		state := p.export("pr-42")
		// Stored state holds the password as ciphertext: look for that, and
		// for the resource itself.
		ciphertext := regexp.MustCompile(`"ciphertext": "([^"]+)"`).FindStringSubmatch(stagingState)
		if ciphertext == nil {
			t.Fatalf("staging's stored state has no ciphertext:\n%s", stagingState)
		}
		if strings.Contains(state, ciphertext[1]) || strings.Contains(state, "RandomPassword") {
			t.Errorf("pr-42's state holds staging's generated password:\n%s", state)
		}
		var d struct{ Deployment struct{ Resources []any } }
		if err := json.Unmarshal([]byte(state), &d); err != nil {
			t.Fatal(err)
		}
		if n := len(d.Deployment.Resources); n != 0 {
			t.Errorf("pr-42 starts with %d resources, want none:\n%s", n, state)
		}
	})

	t.Run("list", func(t *testing.T) {
		code, stdout, stderr := p.envctl("list")
		if code != exitOK {
			t.Fatalf("envctl list: status %d\n%s", code, stderr)
		}
		t.Logf("envctl list:\n%s", stdout)
		for _, row := range []string{`pr-42\s+clone of staging\s`, `production\s+production\s`, `staging\s+staging\s+3\s`} {
			if !regexp.MustCompile(`(?m)^` + row).MatchString(stdout) {
				t.Errorf("envctl list printed\n%s\nwant a row matching %q", stdout, row)
			}
		}
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		before := p.stackNames()
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"clone", "--to", "pr-42"}, `stack "pr-42" already exists`},
			{[]string{"clone", "--to", "production"}, "has a profile of its own"},
			{[]string{"destroy", "production"}, "never destroys production"},
			{[]string{"destroy", "production", "--force"}, "never destroys production"},
			{[]string{"destroy", "staging"}, "not a clone; pass --force"},
		} {
			code, _, stderr := p.envctl(tt.args...)
			if code != exitRefused || !strings.Contains(stderr, tt.want) {
				t.Errorf("envctl %s: status %d, stderr %q; want status %d and %q", strings.Join(tt.args, " "), code, stderr, exitRefused, tt.want)
			}
		}
		if after := p.stackNames(); !slices.Equal(before, after) {
			t.Errorf("stacks were %v before the refusals, %v after", before, after)
		}
		stagingUntouched(t, "after the refusals")
	})

	t.Run("clone of a missing stack fails", func(t *testing.T) {
		code, _, stderr := p.envctl("clone", "--from", "qa", "--to", "pr-43")
		if code != exitFailed || !strings.Contains(stderr, `no stack "qa" to copy from`) {
			t.Errorf("envctl clone --from qa: status %d, stderr %q", code, stderr)
		}
	})

	t.Run("a failed clone leaves no stack behind", func(t *testing.T) {
		// The CLI creates the stack, then fails to decrypt the source.
		t.Setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-passphrase")
		code, _, stderr := p.envctl("clone", "--to", "pr-44")
		if code != exitFailed || !strings.Contains(stderr, "incorrect passphrase") || !strings.Contains(stderr, "half-made stack pr-44 was removed") {
			t.Errorf("envctl clone with a wrong passphrase: status %d, stderr %q", code, stderr)
		}
		if names := p.stackNames(); slices.Contains(names, "pr-44") {
			t.Errorf("a failed clone left pr-44 behind: %v", names)
		}
	})

	// What the preview-env workflow does on each push: a runner starts
	// without the clone's Pulumi.pr-42.yaml, and copies staging's config
	// into the existing clone again. The clone's state, with the secrets its
	// deploys generated, must stay readable under the new file's salt.
	t.Run("config copied again into a clone that lost its config file", func(t *testing.T) {
		const cloneSecret = "generated-for-pr-42"
		p.importState("pr-42", cloneSecret, false)
		if err := os.Remove(filepath.Join(p.dir, "Pulumi.pr-42.yaml")); err != nil {
			t.Fatal(err)
		}
		p.pulumi("config", "cp", "--stack", "staging", "--dest", "pr-42")
		if clone := p.config("pr-42"); !equalJSON(stagingConfig, clone) {
			t.Errorf("pr-42's config differs from staging's:\nstaging: %v\npr-42:   %v", stagingConfig, clone)
		}
		if state := p.exportSecrets("pr-42"); !strings.Contains(state, cloneSecret) {
			t.Errorf("pr-42's state no longer decrypts to its own secret:\n%s", state)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		code, stdout, stderr := p.envctl("destroy", "pr-42")
		if code != exitOK {
			t.Fatalf("envctl destroy pr-42: status %d\n%s\n%s", code, stdout, stderr)
		}
		if names := p.stackNames(); slices.Contains(names, "pr-42") {
			t.Errorf("after destroy the backend still lists pr-42: %v", names)
		}
		if _, err := os.Stat(filepath.Join(p.dir, "Pulumi.pr-42.yaml")); !os.IsNotExist(err) {
			t.Errorf("after destroy Pulumi.pr-42.yaml is still there (%v)", err)
		}
		stagingUntouched(t, "when the clone was destroyed")
		code, _, stderr = p.envctl("destroy", "pr-42")
		if code != exitFailed || !strings.Contains(stderr, `no stack "pr-42"`) {
			t.Errorf("envctl destroy of a removed stack: status %d, stderr %q", code, stderr)
		}
	})
}

// decrypt reads ciphertext as a stack whose key has the given salt would:
// through the CLI, with a config file holding just the two.
func (p *project) decrypt(salt, ciphertext string) (string, error) {
	file := filepath.Join(p.t.TempDir(), "probe.yaml")
	b, err := yaml.Marshal(map[string]any{
		"encryptionsalt": salt,
		"config":         map[string]any{"cloudflare:apiToken": map[string]string{"secure": ciphertext}},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	out, err := p.try("config", "get", "cloudflare:apiToken", "--stack", "staging", "--config-file", file)
	return strings.TrimSpace(out), err
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
