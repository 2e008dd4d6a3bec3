package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/djangostack/infra/cmd/internal/fakecli"
)

// TestMain runs backupctl itself when told to, so that a test can send a
// real SIGINT to a running backupctl.
func TestMain(m *testing.M) {
	if os.Getenv("BACKUPCTL_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// fakeDocker is a stand-in for the docker CLI. It logs each call (with its
// DOCKER_HOST, newlines as spaces) and, for an ssh:// host, first runs ssh
// as the real CLI's connection helper does. It fails the calls whose
// arguments contain FAKE_DOCKER_FAIL. With FAKE_RESTORE_BLOCKS, the restore
// marks that it runs and blocks until backupctl's cancel reaches it, then
// ends as restore.sh does when interrupted ("ignore": it never ends).
// With FAKE_START_SLOW, start marks that it runs and takes a second.
const fakeDocker = `#!/bin/sh
dir=$(dirname "$0")
printf '%s | %s\n' "$DOCKER_HOST" "$(printf '%s' "$*" | tr '\n' ' ')" >>"$dir/docker.log"
` + fakecli.ConnectViaSSH + `case "$*" in
*"${FAKE_DOCKER_FAIL:-no failure}"*) echo "failed as told" >&2; exit 1 ;;
version*) echo 28.2.2 ;;
"service inspect"*) echo 3 ;;
"ps -q"*) echo "abc123" ;;
*restore.sh*)
	if [ -n "${FAKE_RESTORE_BLOCKS:-}" ]; then
		: >"$dir/restoring"
		while [ ! -e "$dir/cancelled" ] || [ "$FAKE_RESTORE_BLOCKS" = ignore ]; do sleep 0.05; done
		echo "restore: interrupted; app was not touched" >&2
		exit 1
	fi
	;;
*"kill -TERM"*) : >"$dir/cancelled" ;;
start*)
	if [ -n "${FAKE_START_SLOW:-}" ]; then
		: >"$dir/starting"
		sleep 1
	fi
	: >"$dir/started"
	;;
esac
`

// fakes puts stand-ins for pulumi, docker and ssh first on PATH, the
// pulumi one printing the given stack outputs. It returns their directory,
// where docker.log and ssh.log are. The ssh wrapper's directory must be
// gone after each run: TMPDIR is the test's.
func fakes(t *testing.T, outputs map[string]any) string {
	t.Helper()
	return fakecli.Install(t, outputs, fakeDocker, "FAKE_DOCKER_FAIL", "FAKE_RESTORE_BLOCKS", "FAKE_START_SLOW")
}

// lines are the lines of a stand-in's log, none when it was not called.
func lines(t *testing.T, path string) []string {
	t.Helper()
	return fakecli.Lines(t, path)
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	return lines(t, filepath.Join(dir, "docker.log"))
}

// oneLine is a script as the docker log shows it.
func oneLine(script string) string { return strings.ReplaceAll(script, "\n", " ") }

// buffer is a bytes.Buffer that backupctl's goroutines may share.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// backupctl runs backupctl with no interrupt.
func backupctl(args ...string) (code int, stdout, stderr string) {
	var out, errs buffer
	code = run(args, &out, &errs, nil)
	return code, out.String(), errs.String()
}

var containerStack = map[string]any{
	"dockerHost": "ssh://deploy@203.0.113.10",
	"runtime":    "container",
	"backends":   []string{"app-prod-backend-abc-1", "app-prod-backend-abc-2"},
	"containers": map[string]string{"backup": "app-prod-backup", "backup-offsite": "app-prod-backup-offsite"},
}

const (
	dump  = "app-prod-20261126T180000Z.dump"
	token = "t0k3n"
	host  = "ssh://deploy@203.0.113.10 | "
)

func init() { newToken = func() string { return token } }

// restoreCalls are the docker calls of a whole restore on containerStack.
var restoreCalls = []string{
	host + "version --format {{.Server.Version}}",
	host + "exec app-prod-backup sh -c " + verifyScript + " verify " + dump,
	host + "exec app-prod-backup sh /opt/backup/backup.sh pin " + dump,
	host + "exec app-prod-backup sh /opt/backup/backup.sh once",
	host + "stop app-prod-backend-abc-1 app-prod-backend-abc-2",
	host + "exec app-prod-backup sh -c " + oneLine(restoreScript) + " restore " + dump + " " + token,
	host + "start app-prod-backend-abc-1 app-prod-backend-abc-2",
	host + "exec app-prod-backup sh -c " + oneLine(cleanupScript) + " cleanup " + dump + " " + token,
}

func TestRestoreStopsTheBackendsAndStartsThemAgain(t *testing.T) {
	dir := fakes(t, containerStack)
	if code, _, errs := backupctl("restore", "--stack", "production", dump); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := calls(t, dir); !slices.Equal(got, restoreCalls) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(restoreCalls, "\n"))
	}
}

func TestAFailedRestoreStillStartsTheBackends(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "restore.sh")
	code, _, errs := backupctl("restore", "--stack", "production", "--no-safety-dump", dump)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := slices.Concat(restoreCalls[:3], restoreCalls[4:])
	if got := calls(t, dir); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(errs, "restore "+dump+" "+token+": exit status 1") {
		t.Errorf("the error does not say what failed: %s", errs)
	}
}

func TestAFailedStopStillStartsTheBackends(t *testing.T) {
	// docker stop stops what it can: those it stopped must come back.
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "stop app-prod")
	code, _, errs := backupctl("restore", "--stack", "production", "--no-safety-dump", dump)
	if code != 1 || !strings.Contains(errs, "stopping the backends failed, nothing was restored") {
		t.Errorf("exit %d: %s", code, errs)
	}
	got := calls(t, dir)
	if slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "restore.sh") }) || !slices.Contains(got, restoreCalls[6]) {
		t.Errorf("after a failed stop, docker calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestAFailedSafetyDumpRestoresNothing(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "backup.sh once")
	code, _, errs := backupctl("restore", "--stack", "production", dump)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := []string{restoreCalls[0], restoreCalls[1], restoreCalls[2], restoreCalls[3], restoreCalls[7]}
	if got := calls(t, dir); !slices.Equal(got, want) {
		t.Errorf("after a failed safety dump:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(errs, "the safety dump failed, nothing was restored") {
		t.Errorf("stderr: %s", errs)
	}
}

func TestADumpThatFailsItsChecksumStopsNothing(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "sha256sum")
	code, _, errs := backupctl("restore", "--stack", "production", dump)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// The check only: no pin, no safety dump, no backend stopped, nothing restored.
	if got := calls(t, dir); !slices.Equal(got, restoreCalls[:2]) {
		t.Errorf("docker calls after a dump that fails its checksum:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(errs, "refusing "+dump+": it does not match its checksum") || !strings.Contains(errs, "nothing was stopped or restored") {
		t.Errorf("stderr: %s", errs)
	}
}

func TestAScriptWithoutPinStopsNothing(t *testing.T) {
	// A stack deployed with the scripts of before pin.
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "backup.sh pin")
	code, _, errs := backupctl("restore", "--stack", "production", dump)
	if code != 1 || !strings.Contains(errs, "pinning "+dump+" against pruning failed, nothing was stopped or restored") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if got := calls(t, dir); !slices.Equal(got, restoreCalls[:3]) {
		t.Errorf("docker calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestOnASwarmTheBackendServiceIsScaledDownAndBack(t *testing.T) {
	stack := map[string]any{
		"dockerHost": "ssh://deploy@manager",
		"runtime":    "swarm",
		"backends":   []string{"app-prod-backend"},
		"containers": map[string]string{"backup": "app-prod-backup"},
	}
	dir := fakes(t, stack)
	if code, _, errs := backupctl("restore", "--stack", "production", "--no-safety-dump", dump); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := "ssh://deploy@manager | "
	want := []string{
		m + "version --format {{.Server.Version}}",
		m + "ps -q --filter label=com.docker.swarm.service.name=app-prod-backup",
		m + "exec abc123 sh -c " + verifyScript + " verify " + dump,
		m + "exec abc123 sh /opt/backup/backup.sh pin " + dump,
		m + "service inspect --format {{.Spec.Mode.Replicated.Replicas}} app-prod-backend",
		m + "service scale --detach=false app-prod-backend=0",
		m + "exec abc123 sh -c " + oneLine(restoreScript) + " restore " + dump + " " + token,
		m + "service scale --detach=false app-prod-backend=3",
		m + "exec abc123 sh -c " + oneLine(cleanupScript) + " cleanup " + dump + " " + token,
	}
	if got := calls(t, dir); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// interruptWhen sends SIGINT on sigs once path exists, then again once
// again exists ("" for once only).
func interruptWhen(t *testing.T, sigs chan<- os.Signal, path, again string) {
	t.Helper()
	go func() {
		for _, p := range []string{path, again} {
			if p == "" {
				return
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(p); err == nil {
					break
				}
				if time.Now().After(deadline) {
					return
				}
			}
			sigs <- syscall.SIGINT
		}
	}()
}

func TestAnInterruptedRestoreIsCancelledAndTheBackendsStarted(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_RESTORE_BLOCKS", "1")
	sigs := make(chan os.Signal, 2)
	interruptWhen(t, sigs, filepath.Join(dir, "restoring"), "")
	var out, errs buffer
	if code := run([]string{"restore", "--stack", "production", dump}, &out, &errs, sigs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	cancel := host + "exec app-prod-backup sh -c " + oneLine(cancelScript) + " cancel  " + token
	want := slices.Concat(restoreCalls[:6], []string{cancel}, restoreCalls[6:])
	if got := calls(t, dir); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, msg := range []string{
		"backupctl: interrupt: cancelling the restore, then starting the backends again",
		"interrupted: the restore of " + dump + " was cancelled, production's database is as it was",
	} {
		if !strings.Contains(errs.String(), msg) {
			t.Errorf("stderr does not say %q:\n%s", msg, errs.String())
		}
	}
}

func TestASecondInterruptDoesNotSkipTheStart(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_RESTORE_BLOCKS", "1")
	t.Setenv("FAKE_START_SLOW", "1")
	sigs := make(chan os.Signal, 2)
	interruptWhen(t, sigs, filepath.Join(dir, "restoring"), filepath.Join(dir, "starting"))
	var out, errs buffer
	if code := run([]string{"restore", "--stack", "production", "--no-safety-dump", dump}, &out, &errs, sigs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); err != nil {
		t.Errorf("the start of the backends did not finish:\n%s", strings.Join(calls(t, dir), "\n"))
	}
	if !strings.Contains(errs.String(), "backupctl: interrupt again: still cancelling the restore, then starting the backends again") {
		t.Errorf("stderr:\n%s", errs.String())
	}
	if got := calls(t, dir); got[len(got)-1] != restoreCalls[7] {
		t.Errorf("the dump was not unpinned at the end:\n%s", strings.Join(got, "\n"))
	}
}

func TestARestoreThatIgnoresItsCancelIsLeftAndTheBackendsStarted(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_RESTORE_BLOCKS", "ignore")
	defer func(w time.Duration) { cancelWait = w }(cancelWait)
	cancelWait = 300 * time.Millisecond
	sigs := make(chan os.Signal, 1)
	interruptWhen(t, sigs, filepath.Join(dir, "restoring"), "")
	var out, errs buffer
	if code := run([]string{"restore", "--stack", "production", "--no-safety-dump", dump}, &out, &errs, sigs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := calls(t, dir); !slices.Contains(got, restoreCalls[6]) {
		t.Errorf("the backends were not started:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(errs.String(), "was cancelled but did not end: it goes on there") {
		t.Errorf("stderr:\n%s", errs.String())
	}
}

func TestAnInterruptBeforeTheStopStopsNothing(t *testing.T) {
	dir := fakes(t, containerStack)
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	var out, errs buffer
	if code := run([]string{"restore", "--stack", "production", dump}, &out, &errs, sigs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, c := range calls(t, dir) {
		if strings.Contains(c, "stop") || strings.Contains(c, "restore.sh") {
			t.Errorf("an interrupt at the start let backupctl call %s", c)
		}
	}
	if !strings.Contains(errs.String(), "interrupted before anything was done") {
		t.Errorf("stderr:\n%s", errs.String())
	}
}

// A real SIGINT, to backupctl's whole process group as a terminal's Ctrl-C
// sends it: the stand-in docker of the restore is in a group of its own and
// ends by the cancel, and the backends are started again.
func TestCtrlCDuringARestore(t *testing.T) {
	dir := fakes(t, containerStack)
	cmd := exec.Command(os.Args[0], "restore", "--stack", "production", "--no-safety-dump", dump)
	cmd.Env = append(os.Environ(), "BACKUPCTL_TEST_MAIN=1", "FAKE_RESTORE_BLOCKS=1")
	var out, errs buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "restoring")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restore did not start:\n%s", errs.String())
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("backupctl ended with %v, want exit status 1", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("backupctl did not end within 20s of SIGINT:\n%s", errs.String())
	}
	got := calls(t, dir)
	if !slices.Contains(got, restoreCalls[6]) || !strings.Contains(got[len(got)-1], "cleanup") {
		t.Errorf("docker calls after SIGINT:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(errs.String(), "production's database is as it was") {
		t.Errorf("stderr:\n%s", errs.String())
	}
}

func TestList(t *testing.T) {
	dir := fakes(t, containerStack)
	if code, _, errs := backupctl("list", "--stack", "production"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := calls(t, dir); !slices.Equal(got, []string{restoreCalls[0], host + "exec app-prod-backup sh /opt/backup/backup.sh list"}) {
		t.Errorf("docker calls: %v", got)
	}
}

func TestListOffsite(t *testing.T) {
	dir := fakes(t, containerStack)
	if code, _, errs := backupctl("list", "--offsite", "--stack", "production"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := calls(t, dir); !slices.Equal(got, []string{restoreCalls[0], host + "exec app-prod-backup-offsite sh /opt/backup/offsite.sh list"}) {
		t.Errorf("docker calls: %v", got)
	}
}

func TestFetch(t *testing.T) {
	dir := fakes(t, containerStack)
	code, out, errs := backupctl("fetch", "--stack", "production", dump)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{
		restoreCalls[0],
		host + "exec app-prod-backup-offsite sh /opt/backup/offsite.sh fetch " + dump,
		host + "exec app-prod-backup sh -c " + verifyScript + " verify " + dump,
	}
	if got := calls(t, dir); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out, "backupctl restore --stack production "+dump) {
		t.Errorf("fetch does not say what comes next:\n%s", out)
	}

	t.Setenv("FAKE_DOCKER_FAIL", "offsite.sh fetch")
	if code, _, errs := backupctl("fetch", "--stack", "production", dump); code != 1 || !strings.Contains(errs, "fetching "+dump+" from the off-host copies failed") {
		t.Errorf("a failed fetch: exit %d: %s", code, errs)
	}
}

func TestAStackWithoutOffsiteCopiesIsNamed(t *testing.T) {
	fakes(t, map[string]any{"dockerHost": "unix:///var/run/docker.sock", "backends": []string{"b-1"}, "containers": map[string]string{"backup": "b"}})
	for _, args := range [][]string{{"list", "--offsite", "--stack", "local"}, {"fetch", "--stack", "local", dump}} {
		if code, _, errs := backupctl(args...); code != 1 || !strings.Contains(errs, "stack local copies no dumps off the host (backup.offsite.url is not set") {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

var sshOpts = []string{"-i", "/keys/deploy key", "-o", "UserKnownHostsFile=/keys/known_hosts", "-o", "StrictHostKeyChecking=yes"}

// theDockerCLIsSSHArgs are the arguments the docker CLI gives ssh for
// ssh://deploy@203.0.113.10 (docker/cli 28.5's connhelper), as fakeSSH logs
// them.
const theDockerCLIsSSHArgs = "[-l][deploy][-o ConnectTimeout=30][-T][--][203.0.113.10][docker system dial-stdio]"

func withSSHOpts(opts []string) map[string]any {
	stack := map[string]any{"sshOpts": opts}
	for k, v := range containerStack {
		stack[k] = v
	}
	return stack
}

func TestTheStacksSSHOptionsGoFirstToSSH(t *testing.T) {
	dir := fakes(t, withSSHOpts(sshOpts))
	if code, _, errs := backupctl("list", "--stack", "production"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "[-i][/keys/deploy key][-o][UserKnownHostsFile=/keys/known_hosts][-o][StrictHostKeyChecking=yes]" + theDockerCLIsSSHArgs
	got := lines(t, filepath.Join(dir, "ssh.log"))
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("ssh was run as:\n%s\nwant twice:\n%s", strings.Join(got, "\n"), want)
	}
	if left, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "*")); len(left) != 0 {
		t.Errorf("backupctl left %v behind", left)
	}
}

func TestWithoutSSHOptionsSSHGetsTheDockerCLIsArguments(t *testing.T) {
	dir := fakes(t, withSSHOpts(nil))
	if code, _, errs := backupctl("list", "--stack", "production"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := lines(t, filepath.Join(dir, "ssh.log")); len(got) == 0 || got[0] != theDockerCLIsSSHArgs {
		t.Errorf("ssh was run as:\n%s\nwant:\n%s", strings.Join(got, "\n"), theDockerCLIsSSHArgs)
	}
}

// The real docker CLI, when there is one, runs the ssh backupctl puts on
// PATH, with the stack's options first.
func TestTheDockerCLIRunsTheStacksSSH(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI on PATH")
	}
	dir := fakes(t, withSSHOpts(sshOpts))
	if err := os.Symlink(docker, filepath.Join(dir, "docker")); err != nil {
		if err := os.Remove(filepath.Join(dir, "docker")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(docker, filepath.Join(dir, "docker")); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_SSH_FAIL", "1")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	code, _, errs := backupctl("list", "--stack", "production")
	if code != 1 || !strings.Contains(errs, "cannot reach the Docker host ssh://deploy@203.0.113.10 of stack production") {
		t.Errorf("exit %d: %s", code, errs)
	}
	got := lines(t, filepath.Join(dir, "ssh.log"))
	// The CLI's own arguments vary with its version (28.2 puts -l after
	// its options, and the remote command in three words).
	if len(got) == 0 || !strings.HasPrefix(got[0], "[-i][/keys/deploy key][-o][UserKnownHostsFile=/keys/known_hosts][-o][StrictHostKeyChecking=yes][") ||
		!strings.Contains(got[0], "[-l][deploy]") || !strings.Contains(got[0], "[--][203.0.113.10][docker]") || !strings.Contains(got[0], "dial-stdio]") {
		t.Errorf("the docker CLI ran ssh as:\n%s", strings.Join(got, "\n"))
	}
}

func TestAHostOutOfReachIsNamed(t *testing.T) {
	dir := fakes(t, withSSHOpts(sshOpts))
	t.Setenv("FAKE_SSH_FAIL", "1")
	code, _, errs := backupctl("restore", "--stack", "production", dump)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, msg := range []string{
		"cannot reach the Docker host ssh://deploy@203.0.113.10 of stack production (ssh with the stack's sshOpts -i /keys/deploy key -o UserKnownHostsFile=/keys/known_hosts -o StrictHostKeyChecking=yes)",
		"Connection refused",
	} {
		if !strings.Contains(errs, msg) {
			t.Errorf("stderr does not say %q:\n%s", msg, errs)
		}
	}
	if got := calls(t, dir); len(got) != 1 {
		t.Errorf("backupctl went on after the host did not answer:\n%s", strings.Join(got, "\n"))
	}
}

func TestAStackNotDeployedIsNamed(t *testing.T) {
	dir := fakes(t, map[string]any{})
	if code, _, errs := backupctl("list", "--stack", "fresh"); code != 1 || !strings.Contains(errs, "stack fresh has no outputs: it is not deployed (pulumi up --stack fresh)") {
		t.Errorf("a stack never deployed: exit %d: %s", code, errs)
	}
	t.Setenv("FAKE_PULUMI_FAIL", "1")
	if code, _, errs := backupctl("list", "--stack", "nope"); code != 1 || !strings.Contains(errs, "reading the outputs of stack nope") || !strings.Contains(errs, "no stack named 'nope' found") {
		t.Errorf("a stack that does not exist: exit %d: %s", code, errs)
	}
	if got := calls(t, dir); len(got) != 0 {
		t.Errorf("docker was called: %v", got)
	}
}

func TestWrongUsageChangesNothing(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"restore", dump},
		{"restore", "--stack", "production"},
		{"restore", "--stack", "production", "../../etc/passwd"},
		{"restore", "--stack", "production", "a.dump", "b.dump"},
		{"restore", "--stack", "production", "--offsite", dump},
		{"fetch", "--stack", "production"},
		{"fetch", "--stack", "production", "../x-20261126T180000Z.dump"},
		{"fetch", "--stack", "production", "--no-safety-dump", dump},
		{"list", "--stack", "production", "extra"},
		{"drop", "--stack", "production"},
	} {
		dir := fakes(t, containerStack)
		if code, _, _ := backupctl(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if got := calls(t, dir); len(got) != 0 {
			t.Errorf("%v called docker", args)
		}
	}
}

func TestAStackWithoutBackupsIsNamed(t *testing.T) {
	fakes(t, map[string]any{"dockerHost": "unix:///var/run/docker.sock", "backends": []string{"b-1"}, "containers": map[string]string{}})
	if code, _, errs := backupctl("list", "--stack", "local"); code != 1 || !strings.Contains(errs, "stack local runs no backup service") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
