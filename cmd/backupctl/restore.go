package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/scripts"
	"github.com/djangostack/infra/stacks/outputs"
)

// The restore runs on the host as restoreScript, which records its pid
// under a token of this run, so that cancelScript can send it SIGTERM
// (restore.sh then stops before the swap, or finishes it). The token keeps
// two runs apart. cancelScript leaves a mark first, which restoreScript
// reads after writing its pid: a cancel that comes before the restore has
// started stops it from starting. cleanupScript removes both, and the pin.
// $1 is the dump, $2 the token.
const (
	restoreScript = `f=/tmp/backupctl-restore-$2
echo $$ >"$f.pid" || exit 1
if [ -e "$f.cancel" ]; then echo "restore: cancelled before it started" >&2; exit 1; fi
exec sh ` + scripts.Restore + ` "$1"`
	cancelScript = `f=/tmp/backupctl-restore-$2
: >"$f.cancel"
if [ -f "$f.pid" ]; then kill -TERM "$(cat "$f.pid")" 2>/dev/null; fi
exit 0`
	cleanupScript = `rm -f "/tmp/backupctl-restore-$2.pid" "/tmp/backupctl-restore-$2.cancel"
exec sh ` + scripts.Backup + ` unpin "$1"`
)

// newToken names this run's restore on the host.
var newToken = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// restore pins the dump, stops the backends, restores the dump and starts
// them again. The backends are started again whatever happens once they
// were stopped: a failed restore (restore.sh leaves the database as it
// was), an interrupt at any point.
func (d *deployment) restore(name string, safetyDump bool) (err error) {
	backup, err := d.container(outputs.BackupContainer)
	if err != nil {
		return err
	}
	untouched := func(err error) error {
		if errors.Is(err, errInterrupted) {
			return fmt.Errorf("interrupted before anything was stopped or restored: %w", err)
		}
		return err
	}
	d.intr.doing("stopping: nothing was stopped or restored")
	// A dump that is not good is refused before the site is touched: no
	// safety dump, no backend stopped (restore.sh checks again).
	if err := d.docker(abandon, "exec", backup, "sh", "-c", verifyScript, "verify", name); err != nil {
		if errors.Is(err, errInterrupted) {
			return untouched(err)
		}
		return fmt.Errorf("refusing %s: it does not match its checksum (or either is missing); nothing was stopped or restored: %w", name, err)
	}
	// The safety dump prunes after it dumps, and the loop's dumps do too:
	// the pin keeps the dump being restored, however old it is. (A pin
	// made as an interrupt ends this call is left: it holds a day.)
	if err := d.docker(abandon, "exec", backup, "sh", scripts.Backup, "pin", name); err != nil {
		if errors.Is(err, errInterrupted) {
			return untouched(err)
		}
		return fmt.Errorf("pinning %s against pruning failed, nothing was stopped or restored (a stack deployed before backup.sh had pin: pulumi up first): %w", name, err)
	}
	token := newToken()
	defer func() {
		if cleanupErr := d.docker(finish, "exec", backup, "sh", "-c", cleanupScript, "cleanup", name, token); cleanupErr != nil {
			err = errors.Join(err, fmt.Errorf("unpinning %s (its pin ends in a day anyway): %w", name, cleanupErr))
		}
	}()
	if safetyDump {
		fmt.Fprintf(d.stdout, "backupctl: dumping the current state of %s first\n", d.Name)
		if err := d.docker(abandon, "exec", backup, "sh", scripts.Backup, "once"); err != nil {
			if errors.Is(err, errInterrupted) {
				return fmt.Errorf("interrupted during the safety dump, which may still finish on %s; nothing was stopped or restored: %w", d.DockerHost, err)
			}
			return fmt.Errorf("the safety dump failed, nothing was restored (--no-safety-dump skips it): %w", err)
		}
	}
	if d.intr.happened() {
		return untouched(errInterrupted)
	}
	d.intr.doing("stopping the backends, then starting them again")
	start, stopErr := d.stopBackends()
	defer func() {
		if startErr := start(); startErr != nil {
			err = errors.Join(err, fmt.Errorf("starting the backends again: %w; the site is down until they are started (%s)", startErr, d.startHint()))
		}
	}()
	if stopErr != nil {
		return fmt.Errorf("stopping the backends failed, nothing was restored: %w", stopErr)
	}
	d.intr.doing("cancelling the restore, then starting the backends again")
	if d.intr.happened() {
		return fmt.Errorf("interrupted before the restore: nothing was restored: %w", errInterrupted)
	}
	fmt.Fprintf(d.stdout, "backupctl: restoring %s into %s's database\n", name, d.Name)
	d.restoring, d.token = backup, token
	err = d.docker(cancelRestore, "exec", backup, "sh", "-c", restoreScript, "restore", name, token)
	switch {
	case !d.intr.happened():
		return err
	case err == nil:
		return fmt.Errorf("interrupted once the restore's swap had begun: %s is restored into %s's database: %w", name, d.Name, errInterrupted)
	case errors.Is(err, errCancelTimeout):
		return fmt.Errorf("interrupted, and the restore on %s was cancelled but did not end: it goes on there, either leaving the database as it was or swapping %s in (whole either way); see the backup container's processes: %w", d.DockerHost, name, err)
	}
	return fmt.Errorf("interrupted: the restore of %s was cancelled, %s's database is as it was: %w", name, d.Name, errors.Join(errInterrupted, err))
}

// cancel asks the restore of this run to stop, on the host.
func (d *deployment) cancel() {
	err := d.run(finish, d.stdout, d.stderr, "exec", d.restoring, "sh", "-c", cancelScript, "cancel", "", d.token)
	if err != nil {
		fmt.Fprintf(d.stderr, "backupctl: cancelling the restore on %s failed: %v\n", d.DockerHost, err)
	}
}

// stopBackends stops the stack's backends and returns how to start them,
// also when the stop failed: some may have stopped.
func (d *deployment) stopBackends() (func() error, error) {
	if d.Runtime == outputs.SwarmRuntime {
		// Every service of the backend's image (the web one, then each
		// role's), scaled to 0 and back in one command each way.
		var down, up, replicas []string
		for _, service := range d.Backends {
			n, err := d.output(abandon, d.stderr, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", service)
			if err != nil {
				return func() error { return nil }, err
			}
			if _, err := strconv.Atoi(n); err != nil {
				return func() error { return nil }, fmt.Errorf("%s has %q replicas", service, n)
			}
			fmt.Fprintf(d.stdout, "backupctl: scaling %s to 0 (from %s)\n", service, n)
			down, up, replicas = append(down, service+"=0"), append(up, service+"="+n), append(replicas, n)
		}
		scale := func(to []string) error {
			return d.docker(finish, append([]string{"service", "scale", "--detach=false"}, to...)...)
		}
		start := func() error {
			for i, service := range d.Backends {
				fmt.Fprintf(d.stdout, "backupctl: scaling %s back to %s\n", service, replicas[i])
			}
			return scale(up)
		}
		d.restart = "docker service scale " + strings.Join(up, " ")
		return start, scale(down)
	}
	start := func() error {
		fmt.Fprintf(d.stdout, "backupctl: starting %s\n", strings.Join(d.Backends, " "))
		return d.docker(finish, append([]string{"start"}, d.Backends...)...)
	}
	d.restart = "docker start " + strings.Join(d.Backends, " ")
	fmt.Fprintf(d.stdout, "backupctl: stopping %s\n", strings.Join(d.Backends, " "))
	return start, d.docker(finish, append([]string{"stop"}, d.Backends...)...)
}

// startHint is how to start the backends by hand.
func (d *deployment) startHint() string {
	return "DOCKER_HOST=" + d.DockerHost + " " + d.restart
}
