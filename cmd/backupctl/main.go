// Command backupctl lists, fetches and restores the database dumps of a
// deployed stack. It finds the stack's containers in the stack's outputs and
// drives the host's Docker with the docker CLI, over the stack's own
// host.docker and, on an ssh:// host, its host.sshOpts.
//
//	backupctl list    --stack production [--offsite]
//	backupctl fetch   --stack production django-stack-production-20261126T180000Z.dump
//	backupctl restore --stack production django-stack-production-20261126T180000Z.dump
//
// restore verifies the dump's checksum (and stops there if it does not
// match), pins the dump against pruning, takes a dump of the current state
// first (unless --no-safety-dump), stops the backends, restores, and starts
// the backends again whatever happened, an interrupt included. fetch gets a
// dump from the off-host copies into the backups volume: what a new server
// needs before it can restore a dump it never had. Exit status: 0 done,
// 1 failed or interrupted, 2 wrong usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/djangostack/infra/cmd/internal/stackhost"
	"github.com/djangostack/infra/components/scripts"
	"github.com/djangostack/infra/stacks/outputs"
)

const usage = `backupctl lists, fetches and restores the database dumps of a deployed stack.

  backupctl list    --stack STACK [--offsite]
  backupctl fetch   --stack STACK NAME
  backupctl restore --stack STACK [--no-safety-dump] NAME

  list      the dumps in the stack's backups volume, newest first, with
            their size, age and checksum state; with --offsite, the
            complete copies in backup.offsite.url instead
  fetch     download NAME and its checksum from backup.offsite.url into the
            backups volume, through the off-host copy container, and keep
            them only if they match: a new server's way to a dump it never had
  restore   check NAME against its checksum, keep it from pruning, dump the
            current state (unless --no-safety-dump), stop the backends,
            restore NAME into a new database and swap it in, then start the
            backends again

Flags:
  --stack STACK       the Pulumi stack (required)
  --cwd DIR           the Pulumi project directory (default: .)
  --offsite           list the off-host copies
  --no-safety-dump    restore without first dumping the current state

A server lost: deploy the stack onto a new one (empty database, empty
backups volume), then
  backupctl list --offsite --stack STACK
  backupctl fetch --stack STACK NAME
  backupctl restore --stack STACK NAME

backupctl needs the pulumi and docker commands on PATH, and ssh for an
ssh:// host. It reaches the stack's Docker host as the stack does: its
dockerHost output and, over ssh, its sshOpts output (host.sshOpts), which
it puts before the docker CLI's own arguments to ssh.

Interrupting restore (Ctrl-C, SIGTERM or SIGHUP) is safe: the restore is
cancelled on the host unless its swap has begun (then it ends, restored),
and the backends it stopped are started again before backupctl exits; a
second Ctrl-C does not skip that. An interrupted fetch may still finish on
the host; a half-done one is never published.

Exit status: 0 done, 1 failed or interrupted, 2 wrong usage.
`

// verifyScript checks a dump against its checksum file, in sha256sum's
// format: what makes a dump good (components/scripts/backup.sh).
const verifyScript = `cd ` + scripts.DumpDir + ` && sha256sum -c -- "$1.sha256"`

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// Output piped into a program the same Ctrl-C ended (| tee log) must
	// not kill backupctl on its next line before it starts the backends
	// again: with SIGPIPE caught, such a write fails and is ignored.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, signals))
}

// errUsage marks a wrong invocation: exit status 2.
var errUsage = stackhost.ErrUsage

// run runs backupctl; signals are the interrupts it receives.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	err := dispatch(args, stdout, stderr, signals)
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

func dispatch(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) error {
	if asked, err := stackhost.Help(args, usage, stdout); asked {
		return err
	}
	command := args[0]
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	stack := flags.String("stack", "", "")
	cwd := flags.String("cwd", ".", "")
	noSafetyDump := flags.Bool("no-safety-dump", false, "")
	offsite := flags.Bool("offsite", false, "")
	if err := flags.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *stack == "" {
		return fmt.Errorf("%w: --stack is required", errUsage)
	}
	var name string
	switch command {
	case "list":
		if flags.NArg() != 0 {
			return fmt.Errorf("%w: list takes no argument", errUsage)
		}
	case "fetch", "restore":
		if flags.NArg() != 1 {
			return fmt.Errorf("%w: %s takes the dump's name (backupctl list shows them; list --offsite the off-host copies)", errUsage, command)
		}
		name = flags.Arg(0)
		if !dumpName.MatchString(name) {
			return fmt.Errorf("%w: %q is not a dump's name (PREFIX-YYYYmmddTHHMMSSZ.dump)", errUsage, name)
		}
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, command)
	}
	if *offsite && command != "list" {
		return fmt.Errorf("%w: --offsite is a flag of list", errUsage)
	}
	if *noSafetyDump && command != "restore" {
		return fmt.Errorf("%w: --no-safety-dump is a flag of restore", errUsage)
	}

	intr := watch(signals, stderr)
	d, err := load(*cwd, *stack)
	if err != nil {
		return err
	}
	d.stdout, d.stderr, d.intr = stdout, stderr, intr
	defer d.close()
	if err := d.connect(); err != nil {
		if errors.Is(err, errInterrupted) {
			return fmt.Errorf("interrupted before anything was done: %w", err)
		}
		return err
	}
	switch command {
	case "list":
		if *offsite {
			return d.listOffsite()
		}
		return d.list()
	case "fetch":
		return d.fetch(name)
	}
	return d.restore(name, !*noSafetyDump)
}

var dumpName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9]{8}T[0-9]{6}Z\.dump$`)

func (d *deployment) list() error {
	backup, err := d.container(outputs.BackupContainer)
	if err != nil {
		return err
	}
	return d.docker(abandon, "exec", backup, "sh", scripts.Backup, "list")
}

func (d *deployment) listOffsite() error {
	offsite, err := d.container(outputs.OffsiteContainer)
	if err != nil {
		return err
	}
	return d.docker(abandon, "exec", offsite, "sh", scripts.Offsite, "list")
}

// fetch downloads a dump from the off-host copies into the backups volume
// (offsite.sh checks it against its checksum before publishing it), then
// checks it again from the backup container, which restores it.
func (d *deployment) fetch(name string) error {
	offsite, err := d.container(outputs.OffsiteContainer)
	if err != nil {
		return err
	}
	backup, err := d.container(outputs.BackupContainer)
	if err != nil {
		return err
	}
	if err := d.docker(abandon, "exec", offsite, "sh", scripts.Offsite, "fetch", name); err != nil {
		if errors.Is(err, errInterrupted) {
			return fmt.Errorf("interrupted: the download of %s may still finish on %s (backupctl list shows it once it has; a half-done one is never published): %w", name, d.DockerHost, err)
		}
		return fmt.Errorf("fetching %s from the off-host copies failed: %w", name, err)
	}
	if err := d.docker(abandon, "exec", backup, "sh", "-c", verifyScript, "verify", name); err != nil {
		return fmt.Errorf("%s was fetched, but the backup container does not find it good: %w", name, err)
	}
	fmt.Fprintf(d.stdout, "backupctl: %s is in %s's backups volume and matches its checksum: backupctl restore --stack %s %s\n", name, d.Name, d.Name, name)
	return nil
}
