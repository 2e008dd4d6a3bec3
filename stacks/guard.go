package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A protected resource stops `pulumi destroy` only when the engine reaches
// it: the engine deletes in rounds, first every resource nothing depends
// on, and applies protection per resource as it goes. So in a stack whose
// data volumes alone are protected, a destroy deletes every container and
// network, and only then fails at the volumes: the site is down and the
// command "refused". (Seen on the real engine: deploy-production.sh.)
//
// The guard is a protected resource that depends on every other resource
// of the stack, so that it is the only one in a destroy's first round: the
// destroy fails on it before anything else is touched. An update never
// replaces it (it has no inputs); its dependencies follow the resources
// each update registers. `pulumi state unprotect --all` lifts it with the
// rest (docs/operations.md, "Data that outlives the stack").

// guardType is the guard's type token.
const guardType = "django-stack:stack:DestroyGuard"

// destroyGuard collects the stack's resources as they are registered.
type destroyGuard struct {
	resources []pulumi.Resource
}

// watch records every resource the program registers from now on.
func (g *destroyGuard) watch(ctx *pulumi.Context) error {
	return ctx.RegisterStackTransformation(func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		g.resources = append(g.resources, args.Resource)
		return nil
	})
}

// register registers the guard, protected, after everything watch saw.
func (g *destroyGuard) register(ctx *pulumi.Context) error {
	var guard pulumi.ResourceState
	return ctx.RegisterComponentResource(guardType, "destroy-guard", &guard,
		pulumi.Protect(true), pulumi.DependsOn(g.resources))
}
