// Command backupctl lists and restores the database dumps of a deployed
// stack. It finds the stack's containers in the stack's outputs and drives
// the host's Docker with the docker CLI, over the stack's own host.docker.
//
//	backupctl list    --stack production
//	backupctl restore --stack production django-stack-production-20261126T180000Z.dump
//
// restore verifies the dump's checksum (and stops there if it does not
// match), takes a dump of the current state first (unless
// --no-safety-dump), stops the backends, restores, and starts the backends
// again whatever happened. Exit status: 0 done, 1 failed,
// 2 wrong usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/scripts"
	"github.com/djangostack/infra/stacks/outputs"
)

const usage = `backupctl lists and restores the database dumps of a deployed stack.

  backupctl list    --stack STACK
  backupctl restore --stack STACK [--no-safety-dump] NAME

Flags:
  --stack STACK       the Pulumi stack (required)
  --cwd DIR           the Pulumi project directory (default: .)
  --no-safety-dump    restore without first dumping the current state

It needs the pulumi and docker commands on PATH, and reaches the stack's
Docker host as the stack does (its dockerHost output, e.g. ssh://...).
`

// backupDir is where the dumps are in the backup container (components.BackupDir).
const backupDir = "/backups"

// verifyScript checks a dump against its checksum file, in sha256sum's
// format: what makes a dump good (components/scripts/backup.sh).
const verifyScript = `cd ` + backupDir + ` && sha256sum -c -- "$1.sha256"`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a wrong invocation: exit status 2.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "backupctl: %v\n\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "backupctl: %v\n", err)
	return 1
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command", errUsage)
		}
		return nil
	}
	command := args[0]
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	stack := flags.String("stack", "", "")
	cwd := flags.String("cwd", ".", "")
	noSafetyDump := flags.Bool("no-safety-dump", false, "")
	if err := flags.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *stack == "" {
		return fmt.Errorf("%w: --stack is required", errUsage)
	}
	switch command {
	case "list":
		if flags.NArg() != 0 {
			return fmt.Errorf("%w: list takes no argument", errUsage)
		}
		d, err := load(*cwd, *stack)
		if err != nil {
			return err
		}
		return d.list(stdout, stderr)
	case "restore":
		if flags.NArg() != 1 {
			return fmt.Errorf("%w: restore takes the dump's name (backupctl list shows them)", errUsage)
		}
		name := flags.Arg(0)
		if !dumpName.MatchString(name) {
			return fmt.Errorf("%w: %q is not a dump's name (PREFIX-YYYYmmddTHHMMSSZ.dump)", errUsage, name)
		}
		d, err := load(*cwd, *stack)
		if err != nil {
			return err
		}
		return d.restore(name, !*noSafetyDump, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, command)
}

var dumpName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9]{8}T[0-9]{6}Z\.dump$`)

// deployment is what the stack's outputs say about its containers.
type deployment struct {
	DockerHost string
	Runtime    string
	Backends   []string
	Containers map[string]string
	stack      string
}

// decode reads the deployment from the stack's outputs as JSON, each field
// from the output stacks/outputs names.
func (d *deployment) decode(data []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for key, field := range map[string]any{
		outputs.DockerHost: &d.DockerHost, outputs.Runtime: &d.Runtime,
		outputs.Backends: &d.Backends, outputs.Containers: &d.Containers,
	} {
		if raw, ok := all[key]; ok {
			if err := json.Unmarshal(raw, field); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return nil
}

// load reads the stack's outputs with the pulumi CLI.
func load(cwd, stack string) (*deployment, error) {
	cmd := exec.Command("pulumi", "stack", "output", "--json", "--stack", stack, "--cwd", cwd)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reading the outputs of stack %s: %w", stack, err)
	}
	d := &deployment{stack: stack}
	if err := d.decode(out); err != nil {
		return nil, fmt.Errorf("the outputs of stack %s: %w", stack, err)
	}
	if d.DockerHost == "" || len(d.Backends) == 0 {
		return nil, fmt.Errorf("stack %s has no dockerHost or backends output: deploy it with this version of the program first", stack)
	}
	if d.Containers[outputs.BackupContainer] == "" {
		return nil, fmt.Errorf("stack %s runs no backup service (backup.enabled is false)", stack)
	}
	return d, nil
}

// docker runs the docker CLI against the stack's host.
func (d *deployment) docker(stdout, stderr io.Writer, args ...string) error {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.DockerHost)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// output runs the docker CLI and returns what it printed.
func (d *deployment) output(args ...string) (string, error) {
	var out strings.Builder
	err := d.docker(&out, os.Stderr, args...)
	return strings.TrimSpace(out.String()), err
}

// backupContainer is the container to exec into: the backup container, or
// on a swarm the backup service's task on this host.
func (d *deployment) backupContainer() (string, error) {
	name := d.Containers[outputs.BackupContainer]
	if d.Runtime != outputs.SwarmRuntime {
		return name, nil
	}
	id, err := d.output("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+name)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("no task of %s runs on %s: point DOCKER_HOST at the data node (backupctl uses the stack's dockerHost)", name, d.DockerHost)
	}
	return strings.Fields(id)[0], nil
}

func (d *deployment) list(stdout, stderr io.Writer) error {
	backup, err := d.backupContainer()
	if err != nil {
		return err
	}
	return d.docker(stdout, stderr, "exec", backup, "sh", scripts.Backup, "list")
}

// restore stops the backends, restores the dump and starts them again; the
// backends are started again even when the restore fails, as restore.sh
// leaves the database as it was then.
func (d *deployment) restore(name string, safetyDump bool, stdout, stderr io.Writer) (err error) {
	backup, err := d.backupContainer()
	if err != nil {
		return err
	}
	// A dump that is not good is refused before the site is touched: no
	// safety dump, no backend stopped (restore.sh checks again).
	if err := d.docker(stdout, stderr, "exec", backup, "sh", "-c", verifyScript, "verify", name); err != nil {
		return fmt.Errorf("refusing %s: it does not match its checksum (or either is missing); nothing was stopped or restored: %w", name, err)
	}
	if safetyDump {
		fmt.Fprintf(stdout, "backupctl: dumping the current state of %s first\n", d.stack)
		if err := d.docker(stdout, stderr, "exec", backup, "sh", scripts.Backup, "once"); err != nil {
			return fmt.Errorf("the safety dump failed, nothing was restored (--no-safety-dump skips it): %w", err)
		}
	}
	start, err := d.stopBackends(stdout, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if startErr := start(); startErr != nil {
			err = errors.Join(err, fmt.Errorf("starting the backends again: %w", startErr))
		}
	}()
	fmt.Fprintf(stdout, "backupctl: restoring %s into %s's database\n", name, d.stack)
	return d.docker(stdout, stderr, "exec", backup, "sh", scripts.Restore, name)
}

// stopBackends stops the stack's backends and returns how to start them.
func (d *deployment) stopBackends(stdout, stderr io.Writer) (func() error, error) {
	if d.Runtime == outputs.SwarmRuntime {
		service := d.Backends[0]
		replicas, err := d.output("service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", service)
		if err != nil {
			return nil, err
		}
		if _, err := strconv.Atoi(replicas); err != nil {
			return nil, fmt.Errorf("%s has %q replicas", service, replicas)
		}
		fmt.Fprintf(stdout, "backupctl: scaling %s to 0 (from %s)\n", service, replicas)
		if err := d.docker(stdout, stderr, "service", "scale", "--detach=false", service+"=0"); err != nil {
			return nil, err
		}
		return func() error {
			fmt.Fprintf(stdout, "backupctl: scaling %s back to %s\n", service, replicas)
			return d.docker(stdout, stderr, "service", "scale", "--detach=false", service+"="+replicas)
		}, nil
	}
	fmt.Fprintf(stdout, "backupctl: stopping %s\n", strings.Join(d.Backends, " "))
	if err := d.docker(stdout, stderr, append([]string{"stop"}, d.Backends...)...); err != nil {
		return nil, err
	}
	return func() error {
		fmt.Fprintf(stdout, "backupctl: starting %s\n", strings.Join(d.Backends, " "))
		return d.docker(stdout, stderr, append([]string{"start"}, d.Backends...)...)
	}, nil
}
