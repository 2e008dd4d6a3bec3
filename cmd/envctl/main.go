// Command envctl makes, lists and removes clones of staging: short-lived
// stacks, one per pull request, that run staging's profile on the same Docker
// host under their own Docker names, host name and generated secrets.
//
//	envctl [--dir DIR] clone [--from staging] --to pr-42
//	envctl [--dir DIR] list
//	envctl [--dir DIR] destroy [--force] pr-42
//
// It drives the pulumi CLI found on PATH through the Automation API, in the
// project directory DIR (default: the current one), against the backend that
// CLI uses (PULUMI_BACKEND_URL or `pulumi login`).
//
// Exit status: 0 done, 1 the operation failed, 2 bad usage or a refused
// request (nothing was changed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `envctl makes and removes clones of staging: one stack per pull request, with
staging's config and profile, its own Docker names, host name and secrets.

Usage:
  envctl [--dir DIR] clone [--from staging] --to NAME
      Create stack NAME with a copy of the source stack's config (secure values
      re-encrypted under NAME's own key) and none of its state. Prints the
      clone's host names and the command that deploys it.
  envctl [--dir DIR] list
      List the project's stacks, marking clones.
  envctl [--dir DIR] destroy [--force] NAME
      Destroy NAME's resources, then remove the stack and its config.
      Only clones, unless --force (staging, local); never production.

  --dir DIR   the Pulumi project's directory (default: the current directory)

envctl runs the pulumi CLI on PATH, against the backend it is logged in to.
Exit status: 0 done, 1 failed, 2 bad usage or refused (nothing changed).
`

const (
	exitOK      = 0
	exitFailed  = 1
	exitRefused = 2
)

// refusal is a request envctl will not carry out, found before anything
// was changed: bad usage, a protected stack, a taken name.
type refusal struct{ error }

func refuse(format string, args ...any) error {
	return refusal{fmt.Errorf(format, args...)}
}

func main() {
	// An interrupt cancels the context, and the Automation API passes it on
	// to the running pulumi command, which stops cleanly and unlocks the stack.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is envctl without the process around it: arguments in, exit status out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "envctl: %v\n", err)
	if errors.As(err, new(refusal)) {
		return exitRefused
	}
	return exitFailed
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("envctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	dir := global.String("dir", ".", "")
	if err := global.Parse(args); err != nil {
		return flagError(err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		return refuse("no command: clone, list or destroy (envctl -h for help)")
	}
	e := &envctl{dir: *dir, stdout: stdout, stderr: stderr}
	switch command, args := rest[0], rest[1:]; command {
	case "clone":
		return e.clone(ctx, args)
	case "list":
		return e.list(ctx, args)
	case "destroy":
		return e.destroy(ctx, args)
	case "help":
		return flag.ErrHelp
	default:
		return refuse("unknown command %q: clone, list or destroy (envctl -h for help)", command)
	}
}

// parse reads a command's flags wherever they stand among its arguments
// (envctl destroy pr-42 --force, as the pulumi CLI allows) and returns the
// other arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return refuse("%v (envctl -h for help)", err)
}
