package stacks

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/stacks/engine"
	"github.com/pulumi/pulumi/sdk/v3/go/common/constant"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program is the Pulumi program. Run runs it as main does:
//
//	var p stacks.Program
//	err := pulumi.RunErr(p.Deploy, p.ReadConfig)
//
// ReadConfig is how the program sees the stack's whole config, to refuse
// the keys it does not read: the SDK's Context looks up one key at a time
// and cannot list them, but a RunOption receives the RunInfo that holds
// them all (from PULUMI_CONFIG, which the Go language host sets, or from a
// test's RunOption under mocks). It must come after any option that sets
// RunInfo.Config.
type Program struct {
	config *MapConfig
	// Getenv reads the environment; nil is os.Getenv.
	Getenv func(string) string
	// Previous reads what the stack's last deployment recorded; nil is
	// EngineOutputs, the stack's last outputs as the engine keeps them.
	Previous PreviousReader
	// Engine learns the version of the stack's Docker Engine; nil is
	// engine.Dial, which asks the host's daemon. Tests give one that
	// contacts none.
	Engine engine.Prober
}

// Result is what one run of the program loaded and registered, as far as
// it got: a run stopped by a config problem has a profile and warnings but
// no deployment.
type Result struct {
	// Profile is the stack's profile as Load returned it.
	Profile Profile
	// Warnings are the problems that do not stop this stack (a guardrail
	// outside production, a value used otherwise than written).
	Warnings problems.Problems
	// Deployment is what Register created; nil when the run stopped before.
	Deployment *Deployment
}

// ReadConfig is the RunOption that hands the program the stack's config.
func (p *Program) ReadConfig(info *pulumi.RunInfo) {
	p.config = &MapConfig{Values: maps.Clone(info.Config), Secrets: slices.Clone(info.ConfigSecretKeys)}
}

// Reported is an error the program has already reported through the
// engine, as it is: the package's Run exits on it without printing it
// again.
type Reported struct{ Err error }

func (r *Reported) Error() string { return r.Err.Error() }
func (r *Reported) Unwrap() error { return r.Err }

// Deploy is the whole program: it loads and validates the stack's profile,
// warns about the guardrails a non-production stack breaks, then registers
// the deployment. Nothing is registered when the config has a problem.
//
// An error is logged once, exactly as the program words it, and returned
// as a *Reported: returned as it is, the SDK would log it wrapped
// ("an unhandled error occurred: program failed: 1 error occurred: * ...").
func (p *Program) Deploy(ctx *pulumi.Context) error {
	_, err := p.Run(ctx)
	return err
}

// Run is Deploy that also returns what the run loaded and registered, for
// tests and tools; the result is never nil, and holds what the run got to
// before an error.
func (p *Program) Run(ctx *pulumi.Context) (*Result, error) {
	res := &Result{}
	err := p.deploy(ctx, res)
	if err == nil {
		return res, nil
	}
	if logErr := ctx.Log.Error(err.Error(), nil); logErr != nil {
		return res, err
	}
	return res, &Reported{Err: err}
}

func (p *Program) deploy(ctx *pulumi.Context, res *Result) error {
	if p.config == nil {
		return errors.New("the stack's config was not read: run the program as pulumi.RunErr(p.Deploy, p.ReadConfig)")
	}
	// The listing and the context must be the same config: ReadConfig saw
	// RunInfo before an option that replaced it otherwise.
	for _, key := range KnownKeys() {
		full := ctx.Project() + ":" + key
		listed, inList := p.config.GetConfig(full)
		value, inContext := ctx.GetConfig(full)
		if inList != inContext || listed != value {
			return fmt.Errorf("the config ReadConfig listed is not the context's (%s differs): pass ReadConfig after the option that sets RunInfo.Config", full)
		}
	}
	profile, warnings, err := Load(Stack{Project: ctx.Project(), Name: ctx.Stack(), Root: ctx.RootDirectory()}, p.config)
	res.Profile, res.Warnings = profile, warnings
	if err != nil {
		return err
	}
	getenv := p.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := checkDockerEnvironment(getenv, profile.Host); err != nil {
		return err
	}
	for _, w := range warnings {
		if err := ctx.Log.Warn(w.Error(), nil); err != nil {
			return err
		}
	}
	d, err := Register(ctx, profile, naming.NewNaming(ctx.Project(), ctx.Stack()), p.Previous, p.Engine)
	if err != nil {
		return err
	}
	res.Deployment = d
	for _, note := range d.Notes {
		if err := ctx.Log.Warn(note, nil); err != nil {
			return err
		}
	}
	for name, value := range d.Outputs {
		ctx.Export(name, value)
	}
	return nil
}

// Run runs the program under the engine and exits as the engine expects:
// 0 when it succeeded; after an error the program reported, with the status
// that tells the language host it was logged already; after any other, with
// the error on stderr.
func Run() {
	var p Program
	err := pulumi.RunErr(p.Deploy, p.ReadConfig)
	if errors.Is(err, pulumi.ErrPlugins) {
		// The engine asked for the plugins the program needs: pulumi.Run
		// prints them and exits.
		pulumi.Run(p.Deploy, p.ReadConfig)
	}
	os.Exit(ExitStatus(err, os.Stderr))
}

// ExitStatus is the program's exit status after pulumi.RunErr returned
// err, having written to stderr what the engine has not been told.
func ExitStatus(err error, stderr io.Writer) int {
	var reported *Reported
	switch {
	case err == nil:
		return 0
	case errors.As(err, &reported):
		return constant.ExitStatusLoggedError
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	return 1
}
