package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/djangostack/infra/cmd/internal/fakecli"
)

// fakeDocker stands in for the docker CLI against a host with the stack of
// containerStack: backend-2 runs no more (exited), backup is missing. It
// logs each call to docker.log. FAKE_EXEC_STATUS is the exit status of an
// exec; FAKE_IMAGE_GONE makes image inspect of an id fail.
const fakeDocker = `#!/bin/sh
dir=$(dirname "$0")
printf '%s\n' "$*" >>"$dir/docker.log"
` + fakecli.ConnectViaSSH + `case "$*" in
version*) echo 28.2.2 ;;
"inspect --type container --format"*)
	echo "/app-prod-backend-abc-1 true"
	echo "/app-prod-backend-abc-2 false"
	;;
"inspect --type container"*)
	cat <<'JSON'
[{"Name": "/app-prod-backend-abc-1", "Image": "sha256:1111111111111111aaaa", "RestartCount": 2,
  "State": {"Status": "running", "StartedAt": "2026-12-06T10:00:00Z", "Health": {"Status": "healthy"}},
  "Config": {"Env": ["SECRET_KEY_FILE=/run/secrets/secret_key", "NOT_SHOWN=s3cret-looking"]}},
 {"Name": "/app-prod-backend-abc-2", "Image": "sha256:1111111111111111aaaa", "RestartCount": 0,
  "State": {"Status": "exited", "StartedAt": "2026-12-06T09:00:00Z", "Health": {"Status": "unhealthy"}}},
 {"Name": "/app-prod-postgres", "Image": "sha256:2222222222222222bbbb", "RestartCount": 0,
  "State": {"Status": "running", "StartedAt": "2026-12-04T08:00:00Z", "Health": {"Status": "healthy"}}}]
JSON
	echo "Error: No such container: app-prod-backup" >&2
	exit 1
	;;
"image inspect --format {{.Id}} "*)
	[ -z "${FAKE_IMAGE_GONE:-}" ] || { echo "Error: No such image" >&2; exit 1; }
	echo sha256:0000
	;;
"image inspect"*)
	echo "sha256:1111111111111111aaaa|registry.example.com/app:1.0.1 |registry.example.com/app@sha256:feed "
	echo "sha256:2222222222222222bbbb|postgres:16-alpine |"
	;;
"logs --timestamps app-prod-backend-abc-1")
	echo "2026-12-06T10:00:01.000000000Z GET /api/ 200"
	echo "2026-12-06T10:00:03.000000000Z GET /notes/ 200" >&2
	;;
"logs --timestamps app-prod-backend-abc-2")
	echo "2026-12-06T10:00:02.000000000Z GET /api/ 200"
	;;
"logs --timestamps app-prod-postgres")
	echo "2026-12-06T10:00:00.500000000Z checkpoint starting"
	;;
"logs --timestamps "*)
	echo "Error: No such container: ${3}" >&2
	exit 1
	;;
"exec "*) echo "ran: $*"; exit "${FAKE_EXEC_STATUS:-0}" ;;
"top "*)
	echo "PID UID GID"
	echo "4101 0 0"
	echo "4102 999 998"
	;;
"ps -q --filter label=com.docker.swarm.service.name=app-prod-backend --filter health=healthy") echo "task1 task2" ;;
"service ps -q --no-trunc --filter desired-state=running app-prod-backend") printf 'task1\ntask2\n' ;;
"service logs --no-trunc --no-task-ids --timestamps task1")
	echo "2026-12-06T10:00:01.000000000Z app-prod-backend.1@node-a    | GET /api/ 200"
	echo "2026-12-06T10:00:03.000000000Z app-prod-backend.1@node-a    | GET /notes/ 200"
	;;
"service logs --no-trunc --no-task-ids --timestamps task2")
	echo "2026-12-06T10:00:02.000000000Z app-prod-backend.2@node-b    | GET /api/ 200"
	;;
esac
`

var containerStack = map[string]any{
	"dockerHost":           "ssh://deploy@203.0.113.10",
	"runtime":              "container",
	"urls":                 []string{"https://example.com/"},
	"backends":             []string{"app-prod-backend-abc-1", "app-prod-backend-abc-2"},
	"backendImage":         "registry.example.com/app@sha256:feed",
	"previousBackendImage": "registry.example.com/app@sha256:beef",
	"containers": map[string]string{
		"backend-1": "app-prod-backend-abc-1", "backend-2": "app-prod-backend-abc-2",
		"postgres": "app-prod-postgres", "backup": "app-prod-backup",
	},
}

var swarmStack = map[string]any{"dockerHost": "unix:///var/run/docker.sock", "runtime": "swarm", "backends": []string{"app-prod-backend"},
	"containers": map[string]string{"backend": "app-prod-backend"}}

func fakes(t *testing.T, outputs map[string]any) string {
	t.Helper()
	return fakecli.Install(t, outputs, fakeDocker, "FAKE_EXEC_STATUS", "FAKE_IMAGE_GONE")
}

func stackctl(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errs)
	return code, out.String(), errs.String()
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	return fakecli.Lines(t, filepath.Join(dir, "docker.log"))
}

func TestStatusShowsEveryContainerAndNoSecret(t *testing.T) {
	fakes(t, containerStack)
	now = func() time.Time { return time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC) }
	t.Cleanup(func() { now = time.Now })
	code, out, errs := stackctl("status", "--stack", "production")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	for key, want := range map[string]string{
		"backend-1": "backend-1 app-prod-backend-abc-1 running healthy registry.example.com/app:1.0.1 111111111111 30m 2",
		"backend-2": "backend-2 app-prod-backend-abc-2 exited unhealthy registry.example.com/app:1.0.1 111111111111 - 0",
		"postgres":  "postgres app-prod-postgres running healthy postgres:16-alpine 222222222222 2d2h 0",
		"backup":    "backup app-prod-backup missing - - - -",
		"url":       "url https://example.com/",
		"previous":  "previous image registry.example.com/app@sha256:beef (stackctl rollback deploys it)",
	} {
		if got := strings.Join(rows[key], " "); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "SECRET_KEY") {
		t.Errorf("status shows a container's environment:\n%s", out)
	}
}

func TestLogsMergeEveryReplicaInTimeOrder(t *testing.T) {
	fakes(t, containerStack)
	code, out, errs := stackctl("logs", "--stack", "production", "backend", "postgres")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	wantLines := []string{
		"postgres  | 2026-12-06T10:00:00.500000000Z checkpoint starting",
		"backend-1 | 2026-12-06T10:00:01.000000000Z GET /api/ 200",
		"backend-2 | 2026-12-06T10:00:02.000000000Z GET /api/ 200",
		"backend-1 | 2026-12-06T10:00:03.000000000Z GET /notes/ 200",
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("logs:\n%s\nwant:\n%s", out, strings.Join(wantLines, "\n"))
	}
}

func TestLogsOfAMissingContainerOrUnknownComponentSaySo(t *testing.T) {
	fakes(t, containerStack)
	if code, _, errs := stackctl("logs", "--stack", "production", "backup"); code != 1 || !strings.Contains(errs, "the logs of backup (app-prod-backup): Error: No such container") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, errs := stackctl("logs", "--stack", "production", "web"); code != 1 || !strings.Contains(errs, `stack production has no component "web" (it has backend, backend-1, backend-2, backup, postgres)`) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestExecRunsInARunningBackendWithItsStatus(t *testing.T) {
	dir := fakes(t, containerStack)
	t.Setenv("FAKE_EXEC_STATUS", "3")
	code, out, errs := stackctl("exec", "--stack", "production", "--", "python", "manage.py", "createsuperuser", "--noinput")
	if code != 3 {
		t.Errorf("exit %d, want the command's 3: %s", code, errs)
	}
	// backend-2 has exited: the command runs in backend-1, stdin handed
	// on, no terminal (the test's stdin is none), as the app's processes'
	// user, not root.
	if want := "ran: exec -i --user 999:998 app-prod-backend-abc-1 python manage.py createsuperuser --noinput\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if got := calls(t, dir); len(got) != 4 {
		t.Errorf("docker calls: %v", got)
	}
}

// /dev/null is a character device but no terminal: docker exec -t would
// refuse it ("the input device is not a TTY").
func TestExecFromDevNullAsksForNoTerminal(t *testing.T) {
	fakes(t, containerStack)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var out, errs bytes.Buffer
	if code := run([]string{"exec", "--stack", "production", "--", "true"}, null, &out, &errs); code != 0 || out.String() != "ran: exec -i --user 999:998 app-prod-backend-abc-1 true\n" {
		t.Errorf("exit %d: %q %s", code, out.String(), errs.String())
	}
}

func TestExecOnASwarmRunsInAHealthyTaskHere(t *testing.T) {
	fakes(t, swarmStack)
	if code, out, errs := stackctl("exec", "--stack", "production", "--user", "root", "backend", "--", "true"); code != 0 || out != "ran: exec -i --user root task1 true\n" {
		t.Errorf("exit %d: %s%s", code, out, errs)
	}
}

func TestLogsOnASwarmNameEachTask(t *testing.T) {
	fakes(t, swarmStack)
	code, out, errs := stackctl("logs", "--stack", "production", "backend")
	want := "app-prod-backend.1@node-a | 2026-12-06T10:00:01.000000000Z GET /api/ 200\n" +
		"app-prod-backend.2@node-b | 2026-12-06T10:00:02.000000000Z GET /api/ 200\n" +
		"app-prod-backend.1@node-a | 2026-12-06T10:00:03.000000000Z GET /notes/ 200\n"
	if code != 0 || out != want {
		t.Errorf("exit %d: %q, want %q (%s)", code, out, want, errs)
	}
}

// rollbackProject is a git work tree whose Pulumi.production.yaml is
// tracked, as a team's project is.
func rollbackProject(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	project := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", project}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %s", args, out)
		}
	}
	file := filepath.Join(project, "Pulumi.production.yaml")
	if err := os.WriteFile(file, []byte("config: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", project, "add", ".").CombinedOutput(); err != nil {
		t.Fatalf("%s", out)
	}
	if out, err := exec.Command("git", "-C", project, "commit", "-qm", "first").CombinedOutput(); err != nil {
		t.Fatalf("%s", out)
	}
	// The fake pulumi leaves the file as it is; a real config set
	// rewrites it: so does this one.
	if err := os.WriteFile(file, []byte("config:\n  django-stack:backend:\n    image: registry.example.com/app@sha256:beef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return project
}

func TestRollbackDeploysThePreviousImageThroughTheCommittedConfig(t *testing.T) {
	dir := fakes(t, containerStack)
	project := rollbackProject(t)
	code, out, errs := stackctl("rollback", "--stack", "production", "--cwd", project, "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{
		"config set --stack production --path backend.image registry.example.com/app@sha256:beef --cwd " + project,
		"up --stack production --yes --skip-preview --cwd " + project,
	}
	if got := fakecli.Lines(t, filepath.Join(dir, "pulumi.log")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pulumi calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	log, _ := exec.Command("git", "-C", project, "log", "-1", "--format=%s", "--", "Pulumi.production.yaml").Output()
	if got := strings.TrimSpace(string(log)); got != "production: roll back backend.image to registry.example.com/app@sha256:beef" {
		t.Errorf("last commit of the stack's file: %q", got)
	}
	if !strings.Contains(out, "committed") || !strings.Contains(out, "push it") {
		t.Errorf("stdout: %s", out)
	}
}

// A local build's previous image is on the host by its id alone, often
// under no name (a parent of the newer build), where the docker provider
// does not look before it tries to pull: rollback names it first.
func TestRollbackNamesAPreviousImageKnownByItsID(t *testing.T) {
	byID := map[string]any{}
	for k, v := range containerStack {
		byID[k] = v
	}
	byID["previousBackendImage"] = "sha256:0123456789abcdef0000"
	dir := fakes(t, byID)
	project := t.TempDir()
	if code, _, errs := stackctl("rollback", "--stack", "production", "--cwd", project, "--yes"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	tag := "stackctl-rollback:production-0123456789ab"
	if docker := strings.Join(calls(t, dir), "\n"); !strings.Contains(docker, "image tag sha256:0123456789abcdef0000 "+tag) {
		t.Errorf("docker calls name no image %s:\n%s", tag, docker)
	}
	want := "config set --stack production --path backend.image " + tag + " --cwd " + project
	if got := fakecli.Lines(t, filepath.Join(dir, "pulumi.log")); len(got) == 0 || got[0] != want {
		t.Errorf("pulumi calls %v, want first %q", got, want)
	}
}

func TestRollbackRefusesWhatItCannotDo(t *testing.T) {
	noPrevious := map[string]any{}
	for k, v := range containerStack {
		noPrevious[k] = v
	}
	delete(noPrevious, "previousBackendImage")
	byID := map[string]any{}
	for k, v := range containerStack {
		byID[k] = v
	}
	byID["previousBackendImage"] = "sha256:0000"
	for _, c := range []struct {
		what    string
		outputs map[string]any
		env     string
		want    string
	}{
		{"no previous image", noPrevious, "", "stack production records no previous image"},
		{"a built image gone from the host", byID, "FAKE_IMAGE_GONE", "the previous image sha256:0000 of stack production is no longer on ssh://deploy@203.0.113.10"},
		{"an update that fails", containerStack, "FAKE_PULUMI_UP_FAIL", "pulumi up of stack production with backend.image registry.example.com/app@sha256:beef failed"},
	} {
		dir := fakes(t, c.outputs)
		if c.env != "" {
			t.Setenv(c.env, "1")
		}
		code, _, errs := stackctl("rollback", "--stack", "production", "--cwd", t.TempDir(), "--yes")
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d: %s", c.what, code, errs)
		}
		if calls := fakecli.Lines(t, filepath.Join(dir, "pulumi.log")); c.env != "FAKE_PULUMI_UP_FAIL" && len(calls) != 0 {
			t.Errorf("%s: pulumi ran %v", c.what, calls)
		}
	}
}

func TestAHostOutOfReachOrAStackNotDeployedIsNamed(t *testing.T) {
	stack := map[string]any{"sshOpts": []string{"-i", "/keys/deploy"}}
	for k, v := range containerStack {
		stack[k] = v
	}
	dir := fakes(t, stack)
	t.Setenv("FAKE_SSH_FAIL", "1")
	code, _, errs := stackctl("status", "--stack", "production")
	if code != 1 || !strings.Contains(errs, "cannot reach the Docker host ssh://deploy@203.0.113.10 of stack production (ssh with the stack's sshOpts -i /keys/deploy): ") ||
		!strings.Contains(errs, "Connection refused") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if got := calls(t, dir); len(got) != 1 {
		t.Errorf("stackctl went on after the host did not answer: %v", got)
	}
	if got := fakecli.Lines(t, filepath.Join(dir, "ssh.log")); len(got) != 1 || !strings.HasPrefix(got[0], "[-i][/keys/deploy][-l][deploy]") {
		t.Errorf("ssh ran as %v", got)
	}
	fakes(t, map[string]any{})
	if code, _, errs := stackctl("logs", "--stack", "fresh"); code != 1 || !strings.Contains(errs, "stack fresh has no outputs: it is not deployed (pulumi up --stack fresh)") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestWrongUsageCallsNothing(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"status"},
		{"status", "--stack", "production", "extra"},
		{"status", "--stack", "production", "-f"},
		{"exec", "--stack", "production"},
		{"exec", "--stack", "production", "backend", "worker", "--", "true"},
		{"logs", "--stack", "production", "--", "ls"},
		{"rollback", "--stack", "production", "--tail", "3"},
		{"restart", "--stack", "production"},
	} {
		dir := fakes(t, containerStack)
		if code, _, _ := stackctl(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if got := calls(t, dir); len(got) != 0 {
			t.Errorf("%v called docker", args)
		}
	}
}

// No command is a wrong invocation (2, with the usage on stderr); asking
// for help is not (0, the usage on stdout).
func TestHelpAndNoCommand(t *testing.T) {
	for _, c := range []struct {
		args        []string
		code        int
		out, errOut bool
	}{
		{nil, 2, true, true},
		{[]string{"--help"}, 0, true, false},
		{[]string{"help"}, 0, true, false},
		{[]string{"nonsense", "--stack", "x"}, 2, false, true},
	} {
		code, out, errs := stackctl(c.args...)
		if code != c.code || strings.Contains(out, "status") != c.out || strings.Contains(errs, "usage") != c.errOut {
			t.Errorf("stackctl %v: exit %d, stdout %q, stderr %q", c.args, code, out, errs)
		}
	}
}
