package tests

// Helpers for the tests that run real programs: what the program renders
// through the real servers (servers_*_test.go), the backup scripts and the
// password step (backup_*_test.go, postgres_password_test.go). Finding the
// binaries (skipped locally, failed under CI=true when missing), each shipped
// stack's registered containers and profile, temporary trees, free ports,
// the unprivileged account servers run as under root, and server processes
// that are stopped when the test ends. The throwaway Postgres cluster is in
// servers_pgcluster_test.go.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/djangostack/infra/stacks"
	"github.com/djangostack/infra/stacks/stackname"
	"github.com/djangostack/infra/tests/skipped"
)

// onCI is true under CI=true, where a missing server binary is a failure
// instead of a skip.
func onCI() bool { return os.Getenv("CI") == "true" }

// requireBinary returns the path of a server binary. Locally a missing one
// skips the test with the package to install; under CI=true it fails it.
// Besides $PATH it looks in the sbin directories, which a non-root user's
// $PATH often lacks (Debian installs nginx as /usr/sbin/nginx).
func requireBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return path
		}
	}
	missingBinary(t, name, pkg)
	return ""
}

func missingBinary(t *testing.T, name, pkg string) {
	t.Helper()
	missing(t, name+" not installed", "apt-get install "+pkg)
}

// missing reports something the machine lacks for a test (a binary, an
// account) and the command that installs it: locally it skips the test,
// saying both; under CI=true, where .ci/run installs everything, it fails
// the test.
func missing(t *testing.T, what, install string) {
	t.Helper()
	if onCI() {
		t.Fatalf("%s (%s); CI=true requires it", what, install)
	}
	skipped.Skip(t, what, install)
}

// shippedStack is one shipped stack as the program deploys it: the
// registrations the mock recorded and the profile stacks.Load built from the
// same config.
type shippedStack struct {
	name    string
	run     *run
	profile stacks.Profile
}

// shippedStackNames are the stacks the project ships a profile and a
// Pulumi.<stack>.yaml for; the tests deploy them from their fixtures.
var shippedStackNames = []string{stackname.Production, stackname.Staging, stackname.Local}

// stackConfig is a shipped stack's config as the tests deploy it: its
// fixture.
func stackConfig(t *testing.T, stack string) map[string]any {
	if stack == stackname.Local {
		return localConfig(t)
	}
	return fixtureConfig(t, stack)
}

// loadShippedStack deploys a shipped stack under mocks and loads its profile
// from the same config, the way the program does.
func loadShippedStack(t *testing.T, stack string) shippedStack {
	t.Helper()
	cfg := stackConfig(t, stack)
	r := deployOK(t, stack, cfg)
	return shippedStack{name: stack, run: r, profile: loadProfile(t, stack, cfg)}
}

// forEachShippedStack runs check once per shipped stack, in parallel.
func forEachShippedStack(t *testing.T, check func(t *testing.T, st shippedStack)) {
	for _, name := range shippedStackNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, loadShippedStack(t, name))
		})
	}
}

// serverDir is a temporary directory that other users can traverse, so that
// a server running as an unprivileged user (nginx's workers, Postgres) can
// reach what the test puts in it. It is removed when the test ends.
func serverDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "django-stack-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freePort returns a TCP port on the loopback interface that nothing listens
// on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// unprivileged is the account a server runs as when the tests run as root:
// Postgres refuses to run as root. Nil when the tests do not run as root.
type unprivileged struct {
	name     string
	uid, gid uint32
}

// unprivilegedUser picks the account for servers that must not run as root:
// the first of names that exists, else nobody. Nil when the tests do not run
// as root: the servers then run as the test's own user. Without any of the
// accounts the test is skipped locally and fails under CI=true.
func unprivilegedUser(t *testing.T, names ...string) *unprivileged {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	names = append(names, "nobody")
	for _, name := range names {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &unprivileged{name: name, uid: uint32(uid), gid: uint32(gid)}
	}
	missing(t, fmt.Sprintf("running as root and none of the accounts %v exists to run the server as", names), "useradd --system "+names[0])
	return nil
}

// apply makes cmd run as the account.
func (u *unprivileged) apply(cmd *exec.Cmd) {
	if u == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
}

// own gives the account a path (for a data directory); without an account
// the path is already the test's own.
func (u *unprivileged) own(t *testing.T, path string) {
	t.Helper()
	if u == nil {
		return
	}
	if err := os.Chown(path, int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a process's output while it runs; it is safe to
// write from the process and read from the test at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a server process started by a test.
type server struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	// err is the process's exit status, set when done is closed.
	err error
	// stopSignal asks the server to shut down (its fast shutdown).
	stopSignal syscall.Signal
}

// startServer starts cmd in its own process group, collecting its output
// in out unless the caller has set cmd's Stdout or Stderr. The process is
// stopped when the test ends, and killed if the test binary dies first.
func startServer(t *testing.T, name string, cmd *exec.Cmd, stopSignal syscall.Signal) (*server, error) {
	t.Helper()
	s := &server{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), stopSignal: stopSignal}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		cmd.Stdout, cmd.Stderr = s.out, s.out
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	dieWithTest(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	return s, nil
}

// exited reports whether the process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop asks the server to shut down and kills its process group if it has
// not within ten seconds.
func (s *server) stop() {
	if s.exited() {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, s.stopSignal)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

// errStartFailed marks a server that exited before it accepted connections.
var errStartFailed = errors.New("the server exited before it accepted connections")

// waitListening waits until the server accepts TCP connections on addr. It
// returns errStartFailed, with the server's output, when the process exits
// first.
func (s *server) waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if s.exited() {
			return fmt.Errorf("%s: %w (%v):\n%s", s.name, errStartFailed, s.err, s.out.String())
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not listening on %s after %s:\n%s", s.name, addr, timeout, s.out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// replaceOnce replaces the single occurrence of old in s. The broken-render
// tests use it to mutate a rendered configuration; a mutation that does not
// apply would prove nothing, so it fails the test.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("the mutation expects %q exactly once, found %d times in:\n%s", old, n, s)
	}
	return strings.Replace(s, old, new, 1)
}
