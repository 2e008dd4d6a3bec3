package tests

import (
	"errors"
	"strings"
	"testing"

	"github.com/djangostack/infra/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestEveryDockerResourceGoesThroughTheStacksProvider(t *testing.T) {
	for stack, want := range map[string]string{
		"production": "ssh://deploy@203.0.113.10",
		"staging":    "ssh://deploy@203.0.113.20",
		"pr-42":      "ssh://deploy@203.0.113.20",
	} {
		cfg := fixtureConfig(t, "staging")
		if stack == "production" {
			cfg = fixtureConfig(t, "production")
		}
		r := deployOK(t, stack, cfg)
		provider := r.get(typeDockerProvider, "docker")
		if provider.str("host") != want {
			t.Errorf("%s deploys to %q, want %q", stack, provider.str("host"), want)
		}
		for _, reg := range r.rec.regs {
			if strings.HasPrefix(reg.Type, "docker:") && !strings.Contains(reg.Provider, "pulumi:providers:docker::docker::") {
				t.Errorf("%s: %s %s does not use the stack's Docker provider (%q)", stack, reg.Type, reg.Name, reg.Provider)
			}
		}
	}
	if host := deployOK(t, "local", localConfig(t)).get(typeDockerProvider, "docker").str("host"); host != "unix:///var/run/docker.sock" {
		t.Errorf("local deploys to %q, want this machine's socket", host)
	}
}

func TestAStackNamesItsHost(t *testing.T) {
	for _, stack := range []string{"production", "staging", "pr-42"} {
		cfg := fixtureConfig(t, "staging")
		delete(cfg, "host")
		r := deploy(t, stack, cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), "host.docker: must name the stack's Docker host") || len(r.rec.regs) != 0 {
			t.Errorf("%s without host.docker: %v (%d registered)", stack, r.err, len(r.rec.regs))
		}
	}
	for _, bad := range []string{"deploy@203.0.113.10", "ssh://203.0.113.10", "ssh://deploy@", "http://server", "unix://"} {
		r := deploy(t, "production", with(t, "production", "host.docker", bad))
		if r.err == nil || !strings.Contains(r.err.Error(), "host.docker: ") || !strings.Contains(r.err.Error(), bad) {
			t.Errorf("host.docker %q accepted: %v", bad, r.err)
		}
	}
}

func TestSSHOptionsAndRegistryLogin(t *testing.T) {
	cfg := with(t, "production", "host.sshOpts", []any{"-i", "/home/ci/.ssh/deploy", "-o", "StrictHostKeyChecking=yes"})
	cfg = setPath(cfg, "host.registry", map[string]any{"address": "registry.example.com", "username": "deploy"})
	cfg["registryPassword"] = secret("registry-password")
	r := deployOK(t, "production", cfg)
	provider := r.get(typeDockerProvider, "docker")
	if got := provider.strings("sshOpts"); strings.Join(got, " ") != "-i /home/ci/.ssh/deploy -o StrictHostKeyChecking=yes" {
		t.Errorf("sshOpts = %v", got)
	}
	// backupctl reaches the host with the same options.
	if got := await(t, r.deployment.Outputs["sshOpts"].(pulumi.StringArray).ToStringArrayOutput()); strings.Join(got.Value.([]string), " ") != "-i /home/ci/.ssh/deploy -o StrictHostKeyChecking=yes" {
		t.Errorf("the sshOpts output = %v", got.Value)
	}
	auth := provider.Inputs["registryAuth"]
	login := asMap(asSlice(value(auth))[0])
	if login["address"] != "registry.example.com" || login["username"] != "deploy" || login["password"] != "registry-password" || !auth.ContainsSecrets() {
		t.Errorf("registry login = %v (secret %v)", login, auth.ContainsSecrets())
	}

	cfg["registryPassword"] = "registry-password" // plain text
	if r := deploy(t, "production", cfg); r.err == nil || !strings.Contains(r.err.Error(), "django-stack:registryPassword: is stored in plain text") {
		t.Errorf("a plain registry password: %v", r.err)
	}
	delete(cfg, "registryPassword")
	if r := deploy(t, "production", cfg); r.err == nil || !strings.Contains(r.err.Error(), "django-stack:registryPassword: must be set") {
		t.Errorf("no registry password: %v", r.err)
	}
	if r := deploy(t, "production", with(t, "production", "host.sshOpts", []any{"-v"})); r.err != nil {
		t.Errorf("sshOpts on an ssh host: %v", r.err)
	}
	if r := deploy(t, "local", with(t, "local", "host.sshOpts", []any{"-v"})); r.err == nil || !strings.Contains(r.err.Error(), "host.sshOpts: only apply to an ssh:// host") {
		t.Errorf("sshOpts on a socket: %v", r.err)
	}
}

// A DOCKER_CONTEXT in the environment would override host.docker in the
// provider: the program refuses to run with one.
func TestDockerContextInTheEnvironmentIsRefused(t *testing.T) {
	t.Setenv("DOCKER_CONTEXT", "my-laptop")
	rec := newRecorder("production")
	values, secrets := configFor(t, fixtureConfig(t, "production"))
	var program stacks.Program
	err := pulumi.RunErr(program.Deploy, pulumi.WithMocks(project, "production", rec), func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
	}, program.ReadConfig)
	if err == nil || !strings.Contains(err.Error(), "DOCKER_CONTEXT=my-laptop is set") || len(rec.regs) != 0 {
		t.Errorf("with DOCKER_CONTEXT: %v (%d registered)", err, len(rec.regs))
	}
}

// The program as main.go runs it: Deploy, warnings and notes included.
func TestDeployRunsTheWholeProgram(t *testing.T) {
	t.Setenv("DOCKER_CONTEXT", "")
	for _, stack := range []string{"production", "staging", "local"} {
		rec := newRecorder(stack)
		values, secrets := configFor(t, fixtureConfig(t, stack))
		var program stacks.Program
		err := pulumi.RunErr(program.Deploy, pulumi.WithMocks(project, stack, rec), func(info *pulumi.RunInfo) {
			info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
		}, program.ReadConfig)
		if err != nil || len(rec.regs) < 20 {
			t.Errorf("%s: %v (%d registered)", stack, err, len(rec.regs))
		}
	}
}

// Run is Deploy returning what the run loaded and registered: the whole of
// it after a deployment, and no deployment after a config problem.
func TestRunReturnsWhatTheRunGotTo(t *testing.T) {
	run := func(config map[string]any) (*stacks.Result, error) {
		values, secrets := configFor(t, config)
		var program stacks.Program
		var res *stacks.Result
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			var err error
			res, err = program.Run(ctx)
			return err
		}, pulumi.WithMocks(project, "production", newRecorder("production")), func(info *pulumi.RunInfo) {
			info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
		}, program.ReadConfig)
		return res, err
	}
	t.Setenv("DOCKER_CONTEXT", "")
	res, err := run(fixtureConfig(t, "production"))
	if err != nil || res == nil || res.Deployment == nil || len(res.Profile.Domains) == 0 {
		t.Fatalf("a deployment: %v; a result %v with a deployment and a profile", err, res != nil)
	}
	var reported *stacks.Reported
	res, err = run(with(t, "production", "postgres.tuning.workMem", "3TB"))
	if !errors.As(err, &reported) || res == nil || res.Deployment != nil {
		t.Errorf("a config problem: %v; want it reported, and a result without a deployment", err)
	}
}
