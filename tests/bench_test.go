package tests

import (
	"testing"

	"github.com/djangostack/infra/components/nginx"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// How long the whole program takes to register production under mocks: the
// part of `pulumi preview` that is this program's own.
func BenchmarkProgramProduction(b *testing.B) {
	values, secrets := configFor(b, withEdge(fixtureConfig(b, "production")))
	b.ReportAllocs()
	for b.Loop() {
		var program stacks.Program
		err := pulumi.RunErr(program.Deploy, pulumi.WithMocks(project, "production", newRecorder("production")), func(info *pulumi.RunInfo) {
			info.Config, info.ConfigSecretKeys, info.RootDirectory = values, secrets, ".."
		}, program.ReadConfig)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// Loading and validating a profile from config, guardrails included.
func BenchmarkLoadProduction(b *testing.B) {
	values, secrets := configFor(b, withEdge(fixtureConfig(b, "production")))
	cfg := stacks.MapConfig{Values: values, Secrets: secrets}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := stacks.Load(stacks.Stack{Project: project, Name: "production", Root: ".."}, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderNginxConf(b *testing.B) {
	s, layout := nginx.DefaultSettings(), nginx.ContainerLayout()
	b.ReportAllocs()
	for b.Loop() {
		nginx.RenderConf(s, layout)
	}
}

func BenchmarkRenderTraefikStatic(b *testing.B) {
	s := traefik.DefaultSettings()
	env := traefik.Environment{Network: "edge", Labels: map[string]string{"a": "b"}, TLS: true, DNSProvider: "cloudflare"}
	b.ReportAllocs()
	for b.Loop() {
		traefik.RenderStatic(s, env)
	}
}
