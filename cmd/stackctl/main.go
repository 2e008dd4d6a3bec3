// Command stackctl is the day-two command of a deployed stack: its status,
// its logs, a command in the backend's environment, and a rollback to the
// previous release's image. It finds the stack's containers (services, on
// a swarm) in the stack's outputs and drives the stack's Docker host with
// the docker CLI, over the stack's own host.docker and, on an ssh:// host,
// its host.sshOpts: the connection cmd/backupctl uses, which lists, fetches
// and restores the database dumps beside it.
//
//	stackctl status   --stack production
//	stackctl logs     --stack production [-f] [--tail N] [--since 10m] [COMPONENT...]
//	stackctl exec     --stack production [COMPONENT] -- python manage.py createsuperuser
//	stackctl rollback --stack production [--yes] [--no-commit]
//
// Exit status: 0 done, 1 failed, 2 wrong usage; exec exits with the
// command's own status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/djangostack/infra/cmd/internal/stackhost"
)

const usage = `stackctl shows and operates a deployed stack.

  stackctl status   --stack STACK
  stackctl logs     --stack STACK [-f] [--tail N] [--since DURATION] [COMPONENT...]
  stackctl exec     --stack STACK [--user USER] [COMPONENT] -- COMMAND [ARG...]
  stackctl rollback --stack STACK [--yes] [--no-commit]

  status    every container (on a swarm, every service and its tasks) of
            the stack with its state, health, image, time up and restarts;
            the site's URLs; the backend's image and the previous one
  logs      the logs of the components (all of them by default; backend
            means every replica), merged in time order, each line prefixed
            with its replica; -f follows them
  exec      runs COMMAND in a running container of COMPONENT (backend by
            default): the backend's environment and secrets, as its
            replicas have them, as the user the app runs as (--user
            to choose); interactive when a terminal is attached
            (stackctl exec --stack production -- python manage.py createsuperuser)
  rollback  deploys the previous release's image (the stack's
            previousBackendImage output): sets backend.image in
            Pulumi.STACK.yaml, runs pulumi up, and commits that file when
            it is in a git work tree, so the next deploy keeps it

Flags:
  --stack STACK       the Pulumi stack (required)
  --cwd DIR           the Pulumi project directory (default: .)
  -f, --follow        logs: follow
  --tail N            logs: the last N lines of each replica (default: all)
  --since DURATION    logs: only lines newer than this (10m, 2h, a date)
  --yes               rollback: pulumi up without asking
  --no-commit         rollback: leave Pulumi.STACK.yaml changed, not committed
  --user USER         exec: run as USER[:GROUP] (default: the app's user)

Components are the keys of the stack's containers output: postgres, redis,
nginx, traefik, docker-api, backup, backend (backend-1, backend-2 … for one
replica), and the roles'. Dumps and restores: cmd/backupctl.

stackctl needs the pulumi and docker commands on PATH, and ssh for an
ssh:// host. It reaches the stack's Docker host as the stack does: its
dockerHost output and, over ssh, its sshOpts output (host.sshOpts). It
prints no secret: it never shows a container's environment.

Exit status: 0 done, 1 failed, 2 wrong usage; exec: the command's.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks a wrong invocation: exit status 2.
var errUsage = stackhost.ErrUsage

// exitStatus is a command's exit status that stackctl exits with (exec).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(args, stdin, stdout, stderr)
	var status exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "stackctl: %v\n\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "stackctl: %v\n", err)
	return 1
}

// options are the flags of every command.
type options struct {
	stack, cwd, since string
	user              string
	follow, yes       bool
	noCommit          bool
	tail              int
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if asked, err := stackhost.Help(args, usage, stdout); asked {
		return err
	}
	command := args[0]
	// exec's command comes after --, untouched by the flags.
	rest, commandLine := args[1:], []string(nil)
	if i := slices.Index(rest, "--"); i >= 0 {
		rest, commandLine = rest[:i], rest[i+1:]
	}
	var o options
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.StringVar(&o.stack, "stack", "", "")
	flags.StringVar(&o.cwd, "cwd", ".", "")
	flags.StringVar(&o.since, "since", "", "")
	flags.BoolVar(&o.follow, "f", false, "")
	flags.BoolVar(&o.follow, "follow", false, "")
	flags.IntVar(&o.tail, "tail", -1, "")
	flags.BoolVar(&o.yes, "yes", false, "")
	flags.BoolVar(&o.noCommit, "no-commit", false, "")
	flags.StringVar(&o.user, "user", "", "")
	if err := parseInterspersed(flags, rest); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.stack == "" {
		return fmt.Errorf("%w: --stack is required", errUsage)
	}
	operands := flags.Args()
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	allowed := map[string][]string{
		"status":   nil,
		"logs":     {"f", "follow", "tail", "since"},
		"exec":     {"user"},
		"rollback": {"yes", "no-commit"},
	}
	own, known := allowed[command]
	if !known {
		return fmt.Errorf("%w: unknown command %q", errUsage, command)
	}
	for name := range set {
		if name != "stack" && name != "cwd" && !slices.Contains(own, name) {
			return fmt.Errorf("%w: --%s is not a flag of %s", errUsage, name, command)
		}
	}
	switch command {
	case "status", "rollback":
		if len(operands) != 0 || commandLine != nil {
			return fmt.Errorf("%w: %s takes no argument", errUsage, command)
		}
	case "logs":
		if commandLine != nil {
			return fmt.Errorf("%w: logs takes components, not a command", errUsage)
		}
	case "exec":
		if len(commandLine) == 0 {
			return fmt.Errorf("%w: exec needs the command after --: stackctl exec --stack %s -- python manage.py shell", errUsage, o.stack)
		}
		if len(operands) > 1 {
			return fmt.Errorf("%w: exec takes one component before -- (got %s)", errUsage, strings.Join(operands, " "))
		}
	}

	s, err := stackhost.Load("stackctl", o.cwd, o.stack)
	if err != nil {
		return err
	}
	h := &host{Stack: s, stdin: stdin, stdout: stdout, stderr: stderr}
	defer h.Close()
	if err := h.connect(); err != nil {
		return err
	}
	switch command {
	case "status":
		return h.status()
	case "logs":
		return h.logs(operands, o)
	case "exec":
		component := "backend"
		if len(operands) == 1 {
			component = operands[0]
		}
		return h.exec(component, o.user, commandLine)
	}
	return h.rollback(o)
}

// parseInterspersed parses flags wherever they are among the operands
// (logs -f backend and logs backend -f alike).
func parseInterspersed(flags *flag.FlagSet, args []string) error {
	var operands []string
	for {
		if err := flags.Parse(args); err != nil {
			return err
		}
		if flags.NArg() == 0 {
			break
		}
		operands = append(operands, flags.Arg(0))
		args = flags.Args()[1:]
	}
	return flags.Parse(operands)
}
