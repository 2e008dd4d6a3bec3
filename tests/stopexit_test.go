package tests

import (
	"errors"
	"github.com/djangostack/infra/components/nginx"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The containers whose server exits 0 when stopped run their image's own
// entrypoint under a wrapper that exits 128+signal after a stop: Docker's
// on-failure policy then starts them again when its daemon restarts (a
// reboot), and still gives up after 3 crashes.
func TestServersThatExitCleanlyRunUnderTheStopExitWrapper(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	for name, image := range map[string][]string{
		"postgres": {"docker-entrypoint.sh", "postgres", "-c", "shared_buffers=256MB"},
		"redis":    {"docker-entrypoint.sh", "redis-server", "/run/secrets/redis-auth.conf"},
		"nginx":    {"/docker-entrypoint.sh", "nginx", "-c", nginx.ConfPath, "-g", "daemon off;"},
		"traefik":  {"/entrypoint.sh", "traefik"},
	} {
		c := r.container(name)
		entrypoint := c.strings("entrypoints")
		if len(entrypoint) != 5 || entrypoint[0] != "/bin/sh" || entrypoint[1] != "-c" || entrypoint[3] != "stop-exit" || entrypoint[4] != image[0] {
			t.Errorf("%s entrypoint %q, want /bin/sh -c <stop-exit script> stop-exit %s", name, entrypoint, image[0])
			continue
		}
		if command := c.strings("command"); !slices.Equal(command[:min(len(command), len(image)-1)], image[1:]) {
			t.Errorf("%s command %q, want it to start with %q (a new entrypoint drops the image's command)", name, command, image[1:])
		}
	}
	// The reference backend exits 128+signal itself; a user's image is
	// not wrapped, since its entrypoint is not known.
	if got := r.container("backend-1").strings("entrypoints"); len(got) != 0 {
		t.Errorf("backend entrypoint %q, want the image's", got)
	}
}

// TestStopExitWrapperUnderRealShells runs the rendered wrapper under the
// shells of the images (busybox ash in the alpine ones, dash in Debian's):
// a child that exits 0 on the stop signal makes the wrapper exit
// 128+signal; a crash keeps its own status; the signal reaches the child.
func TestStopExitWrapperUnderRealShells(t *testing.T) {
	t.Parallel()
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	wrapper := r.container("nginx").strings("entrypoints")[:4]
	shells := map[string][]string{}
	if dash, err := exec.LookPath("dash"); err == nil {
		shells["dash"] = []string{dash}
	}
	if busybox, err := exec.LookPath("busybox"); err == nil {
		shells["busybox ash"] = []string{busybox, "sh"}
	}
	if len(shells) < 2 {
		requireBinary(t, "busybox", "busybox")
		requireBinary(t, "dash", "dash")
	}
	// A server that exits 0 on SIGTERM, SIGQUIT or SIGINT, after saying
	// which. Not a shell: a shell cannot trap SIGINT or SIGQUIT, which it
	// inherits ignored as a background job; servers (Postgres, nginx, Go's
	// runtime) install their own handlers, as perl does here.
	perl := requireBinary(t, "perl", "perl-base")
	const server = `$| = 1; for my $s (qw(TERM QUIT INT)) { $SIG{$s} = sub { print "got $s\n"; exit 0 } } print "ready\n"; sleep 1 while 1;`
	for name, shell := range shells {
		for _, c := range []struct {
			signal syscall.Signal
			word   string
		}{{syscall.SIGTERM, "TERM"}, {syscall.SIGQUIT, "QUIT"}, {syscall.SIGINT, "INT"}} {
			args := append(slices.Clone(shell[1:]), wrapper[1:]...)
			args = append(args, perl, "-e", server)
			cmd := exec.Command(shell[0], args...)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(out.String(), "ready") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(c.signal)
			// A wrapper that does not pass the signal on would wait forever.
			stuck := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
			err := cmd.Wait()
			stuck.Stop()
			var exit *exec.ExitError
			want := 128 + int(c.signal)
			if !errors.As(err, &exit) || exit.ExitCode() != want || !strings.Contains(out.String(), "got "+c.word) {
				t.Errorf("%s: SIG%s to the wrapper: %v, output %q; want exit %d after the child got it", name, c.word, err, out.String(), want)
			}
		}
		// A crash is a crash: its status, not a stop's.
		args := append(slices.Clone(shell[1:]), wrapper[1:]...)
		err := exec.Command(shell[0], append(args, "sh", "-c", "exit 3")...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Errorf("%s: a child that exits 3: %v, want exit 3", name, err)
		}
		if err := exec.Command(shell[0], append(args, "true")...).Run(); err != nil {
			t.Errorf("%s: a child that exits 0 unasked: %v, want 0", name, err)
		}
	}
}
