package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/djangostack/infra/stacks/stackname"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
)

// envctl holds what every command needs: where the project is and where
// to write.
type envctl struct {
	dir            string
	stdout, stderr io.Writer
}

// clone creates a new stack with a copy of the source stack's config and
// none of its state. The state is what holds the generated passwords and
// SECRET_KEY (random.RandomPassword results), so the clone gets fresh ones on
// its first up and can never read staging's.
func (e *envctl) clone(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("clone", flag.ContinueOnError)
	from := fs.String("from", stackname.Staging, "")
	to := fs.String("to", "", "")
	rest, err := parse(fs, args)
	switch {
	case err != nil:
		return err
	case len(rest) > 0:
		return refuse("clone: unexpected argument %q: name the clone with --to", rest[0])
	case *to == "":
		return refuse("clone: --to NAME is required, such as --to pr-42")
	}
	if err := stackname.CheckClone(*to); err != nil {
		return refusal{fmt.Errorf("clone --to: %w", err)}
	}
	if err := checkSource(*from); err != nil {
		return err
	}

	ws, project, err := e.workspace(ctx)
	if err != nil {
		return err
	}
	existing, err := stackNames(ctx, ws)
	if err != nil {
		return err
	}
	if !slices.Contains(existing, *from) {
		return fmt.Errorf("clone: no stack %q to copy from (this project has: %s)", *from, strings.Join(existing, ", "))
	}
	if slices.Contains(existing, *to) {
		return refuse("clone: stack %q already exists: pick another name, or remove it first with envctl destroy %s", *to, *to)
	}
	// Read before creating anything: a source without domains would give a
	// clone that cannot deploy.
	domains, err := sourceDomains(ctx, ws, project, *from)
	if err != nil {
		return err
	}
	settings, err := ws.StackSettings(ctx, *from)
	if err != nil {
		return fmt.Errorf("clone: reading %s's settings: %w", *from, err)
	}

	// The Automation API has no method for --copy-config-from, so the command
	// runs through the workspace's own pulumi command. The CLI decrypts each
	// secure value with the source's key and encrypts it with the new
	// stack's. --no-select leaves the user's selected stack alone.
	initArgs := []string{"stack", "init", *to, "--copy-config-from", *from, "--no-select"}
	if settings.SecretsProvider != "" {
		// Same kind of provider as the source (a KMS key, say), with a data
		// key of the clone's own; empty means the backend's default.
		initArgs = append(initArgs, "--secrets-provider", settings.SecretsProvider)
	}
	if stderr, err := pulumi(ctx, ws, initArgs...); err != nil {
		err = fmt.Errorf("clone: pulumi %s: %v: %s", strings.Join(initArgs, " "), err, strings.TrimSpace(stderr))
		return removeHalfMade(ctx, ws, *to, err)
	}

	fmt.Fprintf(e.stdout, "Cloned %s into %s: %s's config, secure values re-encrypted with %s's own key, none of its state.\n",
		*from, *to, *from, *to)
	fmt.Fprintf(e.stdout, "%s will answer on:\n", *to)
	for _, d := range stackname.Domains(*to, domains) {
		fmt.Fprintf(e.stdout, "  %s\n", d)
	}
	fmt.Fprintf(e.stdout, "Deploy it (its passwords and SECRET_KEY are generated then):\n  pulumi up --stack %s\n", *to)
	return nil
}

// removeHalfMade removes the target of a failed clone. The CLI creates the
// stack before it copies the config, so a source it cannot decrypt (a wrong
// passphrase) leaves an empty stack behind, which would make the next try
// fail with "already exists". The target did not exist before envctl ran,
// so removing it loses nothing, and is done even after an interrupt.
func removeHalfMade(ctx context.Context, ws auto.Workspace, name string, cloneErr error) error {
	ctx = context.WithoutCancel(ctx)
	existing, err := stackNames(ctx, ws)
	if err != nil || !slices.Contains(existing, name) {
		return cloneErr
	}
	if err := ws.RemoveStack(ctx, name); err != nil {
		return fmt.Errorf("%w\nthe half-made stack %s could not be removed (%s): remove it with pulumi stack rm %s", cloneErr, name, brief(err), name)
	}
	return fmt.Errorf("%w\nthe half-made stack %s was removed", cloneErr, name)
}

// checkSource refuses what a clone must not be copied from.
func checkSource(from string) error {
	switch {
	case strings.EqualFold(from, stackname.Production):
		return refuse("clone --from production: a clone runs staging's profile and must not carry production's config and secrets; clone staging")
	case !isStackName(from):
		return refuse("clone --from %q: not a stack name of this project (letters, digits, '-', '_', '.'; no organization or project prefix)", from)
	}
	return nil
}

// sourceDomains reads the source's configured domains, which the clone's
// own host names derive from.
func sourceDomains(ctx context.Context, ws auto.Workspace, project, stack string) ([]string, error) {
	key := project + ":domains"
	v, err := ws.GetConfig(ctx, stack, key)
	if err != nil {
		return nil, fmt.Errorf("clone: a clone answers on <name>.<%s's domain>, but %s's %s cannot be read: %s", stack, stack, key, brief(err))
	}
	var domains []string
	if err := json.Unmarshal([]byte(v.Value), &domains); err != nil || len(domains) == 0 {
		return nil, fmt.Errorf("clone: a clone answers on <name>.<%s's domain>, but %s's %s is %s, not a list of domains", stack, stack, key, v.Value)
	}
	return domains, nil
}

// list prints the project's stacks, marking the clones.
func (e *envctl) list(ctx context.Context, args []string) error {
	rest, err := parse(flag.NewFlagSet("list", flag.ContinueOnError), args)
	switch {
	case err != nil:
		return err
	case len(rest) > 0:
		return refuse("list: unexpected argument %q", rest[0])
	}
	ws, _, err := e.workspace(ctx)
	if err != nil {
		return err
	}
	summaries, err := ws.ListStacks(ctx)
	if err != nil {
		return fmt.Errorf("list: %s", brief(err))
	}
	slices.SortFunc(summaries, func(a, b auto.StackSummary) int { return strings.Compare(a.Name, b.Name) })

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tKIND\tRESOURCES\tLAST UPDATE")
	for _, s := range summaries {
		name := shortName(s.Name)
		kind := name
		if stackname.IsClone(name) {
			kind = "clone of staging"
		}
		resources := "-"
		if s.ResourceCount != nil {
			resources = fmt.Sprint(*s.ResourceCount)
		}
		lastUpdate := s.LastUpdate
		if s.UpdateInProgress {
			lastUpdate = "updating now"
		} else if lastUpdate == "" {
			lastUpdate = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, kind, resources, lastUpdate)
	}
	return tw.Flush()
}

// destroy destroys a stack's resources, then removes the stack and its
// config. It acts on clones; staging and local need --force, and production
// is refused outright: its data volumes are kept on purpose, and removing it
// should take more than one mistyped word.
func (e *envctl) destroy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("destroy", flag.ContinueOnError)
	force := fs.Bool("force", false, "")
	rest, err := parse(fs, args)
	switch {
	case err != nil:
		return err
	case len(rest) != 1:
		return refuse("destroy: name one stack, such as envctl destroy pr-42")
	}
	name := rest[0]
	if err := checkDestroy(name, *force); err != nil {
		return err
	}

	ws, _, err := e.workspace(ctx)
	if err != nil {
		return err
	}
	existing, err := stackNames(ctx, ws)
	if err != nil {
		return err
	}
	if !slices.Contains(existing, name) {
		return fmt.Errorf("destroy: no stack %q (this project has: %s)", name, strings.Join(existing, ", "))
	}
	stack, err := auto.SelectStack(ctx, name, ws)
	if err != nil {
		return fmt.Errorf("destroy: %s", brief(err))
	}
	// Remove runs only once the destroy succeeded: a stack that still has
	// resources stays, so that they stay tracked.
	_, err = stack.Destroy(ctx,
		optdestroy.Remove(),
		optdestroy.ProgressStreams(e.stdout),
		optdestroy.ErrorProgressStreams(e.stderr))
	if err != nil {
		return fmt.Errorf("destroy %s: %s\nthe stack was kept; fix the cause and run envctl destroy %s again", name, brief(err), name)
	}
	fmt.Fprintf(e.stdout, "Destroyed %s's resources and removed the stack.\n", name)
	return nil
}

// checkDestroy refuses what envctl must not destroy. Names are compared
// without case, since some backends do so.
func checkDestroy(name string, force bool) error {
	switch {
	case strings.EqualFold(name, stackname.Production):
		return refuse("destroy: envctl never destroys production (its data volumes are protected and kept on purpose)")
	case !isStackName(name):
		return refuse("destroy: %q is not a stack name of this project (letters, digits, '-', '_', '.'; no organization or project prefix)", name)
	case !stackname.IsClone(strings.ToLower(name)) && !force:
		return refuse("destroy: %s is not a clone; pass --force to destroy it anyway", name)
	}
	return nil
}

// stackNameRE is Pulumi's rule for a stack's own name. A qualified name
// (acme/django-stack/production) is refused: it could dodge the production
// check, and envctl works in one project.
var stackNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

func isStackName(s string) bool { return stackNameRE.MatchString(s) }

// shortName is a stack's own name; Pulumi Cloud may list one qualified
// with its organization and project.
func shortName(s string) string { return path.Base(s) }

// workspace opens the project in e.dir with the pulumi CLI on PATH, and
// returns it with the project's name, the namespace of its config keys.
func (e *envctl) workspace(ctx context.Context) (auto.Workspace, string, error) {
	if _, err := os.Stat(filepath.Join(e.dir, "Pulumi.yaml")); err != nil {
		return nil, "", refuse("no Pulumi.yaml in %s: run envctl in the project's directory or pass --dir", e.dir)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(e.dir))
	if err != nil {
		return nil, "", fmt.Errorf("envctl runs the pulumi CLI, which must be on PATH: %w", err)
	}
	project, err := ws.ProjectSettings(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", filepath.Join(e.dir, "Pulumi.yaml"), err)
	}
	return ws, project.Name.String(), nil
}

// stackNames are the short names of the project's stacks.
func stackNames(ctx context.Context, ws auto.Workspace) ([]string, error) {
	summaries, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing stacks: %s", brief(err))
	}
	names := make([]string, len(summaries))
	for i, s := range summaries {
		names[i] = shortName(s.Name)
	}
	slices.Sort(names)
	return names, nil
}

// brief shortens an Automation API error for people: its message carries
// the command's whole stdout and stderr ("...\ncode: 1\nstdout: ...\nstderr:
// error: ..."), of which the first line and the CLI's own error say it all.
// Any other error is kept whole.
func brief(err error) string {
	msg := err.Error()
	head, rest, ok := strings.Cut(msg, "\ncode: ")
	if !ok {
		return msg
	}
	if _, stderr, ok := strings.Cut(rest, "\nstderr: "); ok && strings.TrimSpace(stderr) != "" {
		return head + ": " + strings.TrimSpace(stderr)
	}
	return head
}

// pulumi runs one CLI command as the workspace runs its own (its directory,
// its environment, --non-interactive) and returns the command's stderr.
func pulumi(ctx context.Context, ws auto.Workspace, args ...string) (string, error) {
	var env []string
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	_, stderr, _, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env, args...)
	return stderr, err
}
