package tests

import (
	"testing"

	"github.com/djangostack/infra/components"
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
	s, layout := components.DefaultNginxSettings(), components.ContainerNginxLayout()
	b.ReportAllocs()
	for b.Loop() {
		components.RenderNginxConf(s, layout)
	}
}

func BenchmarkRenderTraefikStatic(b *testing.B) {
	s := components.DefaultTraefikSettings()
	env := components.TraefikEnvironment{Network: "edge", Labels: map[string]string{"a": "b"}, TLS: true, DNSProvider: "cloudflare"}
	b.ReportAllocs()
	for b.Loop() {
		components.RenderTraefikStatic(s, env)
	}
}
