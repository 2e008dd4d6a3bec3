package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// errInterrupted ends a command that an interrupt cut short.
var errInterrupted = errors.New("interrupted")

// interrupts are the SIGINT, SIGTERM and SIGHUP backupctl receives. The
// first one closes first; each one says what backupctl does about it.
type interrupts struct {
	first  chan struct{}
	stderr io.Writer
	mu     sync.Mutex
	count  int
	now    string // what backupctl does when interrupted at this point
}

func watch(signals <-chan os.Signal, stderr io.Writer) *interrupts {
	i := &interrupts{first: make(chan struct{}), stderr: stderr, now: "stopping"}
	go func() {
		for sig := range signals {
			i.mu.Lock()
			i.count++
			if i.count == 1 {
				fmt.Fprintf(i.stderr, "backupctl: %v: %s\n", sig, i.now)
				close(i.first)
			} else {
				fmt.Fprintf(i.stderr, "backupctl: %v again: still %s; backupctl exits once that is done (only SIGKILL would stop it sooner, and leave it undone)\n", sig, i.now)
			}
			i.mu.Unlock()
		}
	}()
	return i
}

// doing says what an interrupt from now on makes backupctl do.
func (i *interrupts) doing(now string) {
	i.mu.Lock()
	i.now = now
	i.mu.Unlock()
}

func (i *interrupts) happened() bool {
	select {
	case <-i.first:
		return true
	default:
		return false
	}
}

// policy is what an interrupt does to a docker call.
type policy int

const (
	// abandon: an interrupt ends the local docker CLI, and a call not
	// started yet is not made. What it started on the host (a check, a
	// listing, a safety dump, a download) goes on there, harmlessly: the
	// Docker daemon does not end an exec whose client has gone.
	abandon policy = iota
	// finish: the call is made even after an interrupt, and runs to its
	// end: the backends' stop (which the daemon would finish anyway) and
	// start, and unpinning.
	finish
	// cancelRestore: an interrupt asks restore.sh on the host to stop
	// (cancelScript), then waits for it, up to cancelWait.
	cancelRestore
)

// cancelWait bounds the wait for a cancelled restore: restore.sh stops
// pg_restore and drops the partial database at once, or, past the swap,
// finishes in seconds.
var cancelWait = 60 * time.Second

// errCancelTimeout is a cancelled restore that did not end in cancelWait.
var errCancelTimeout = errors.New("the restore did not end after it was cancelled")

// docker runs the docker CLI against the stack's host, its output to
// backupctl's.
func (d *deployment) docker(p policy, args ...string) error {
	return d.run(p, d.stdout, d.stderr, args...)
}

// output runs the docker CLI and returns what it printed.
func (d *deployment) output(p policy, stderr io.Writer, args ...string) (string, error) {
	var out strings.Builder
	err := d.run(p, &out, stderr, args...)
	return strings.TrimSpace(out.String()), err
}

// writer hides a writer's other methods, so that exec always gives the
// docker CLI pipes, never backupctl's terminal: in a process group of its
// own (detach), it could be stopped for writing to it.
type writer struct{ io.Writer }

// describe names a docker call in a message: a script by its first line.
func describe(args []string) string {
	words := []string{"docker"}
	for _, a := range args {
		if first, _, more := strings.Cut(a, "\n"); more {
			a = first + " …"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func (d *deployment) run(p policy, stdout, stderr io.Writer, args ...string) error {
	if p != finish && d.intr.happened() {
		return errInterrupted
	}
	what := describe(args)
	cmd := exec.Command("docker", args...)
	cmd.Env = d.Env
	cmd.Stdout, cmd.Stderr = writer{stdout}, writer{stderr}
	// A child that outlives the CLI (a stand-in's sleep) must not hold
	// the pipes for ever.
	cmd.WaitDelay = 5 * time.Second
	// The terminal's Ctrl-C reaches backupctl only: backupctl decides
	// what happens to each call.
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var interrupted <-chan struct{}
	if p != finish {
		interrupted = d.intr.first
	}
	var deadline <-chan time.Time
	var timedOut bool
	for {
		select {
		case err := <-done:
			switch {
			case timedOut:
				return fmt.Errorf("%s: %w within %v", what, errCancelTimeout, cancelWait)
			case p == abandon && interrupted == nil:
				return fmt.Errorf("%s: %w", what, errInterrupted)
			case err != nil:
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		case <-interrupted:
			interrupted = nil
			switch p {
			case abandon:
				cmd.Process.Kill()
			case cancelRestore:
				go d.cancel()
				deadline = time.After(cancelWait)
			}
		case <-deadline:
			deadline, timedOut = nil, true
			cmd.Process.Kill()
		}
	}
}
