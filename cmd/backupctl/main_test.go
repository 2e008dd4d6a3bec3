package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakes puts stand-ins for pulumi and docker on PATH: pulumi prints the
// given stack outputs, docker logs each call (with its DOCKER_HOST) and
// fails the calls whose arguments contain FAKE_DOCKER_FAIL. It returns the
// path of the log.
func fakes(t *testing.T, outputs map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "docker.log")
	js, err := json.Marshal(outputs)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "outputs.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	write("pulumi", `[ "$1 $2 $3" = "stack output --json" ] || exit 9
cat "`+dir+`/outputs.json"
`)
	write("docker", `echo "$DOCKER_HOST | $*" >>"`+log+`"
case "$*" in
*"${FAKE_DOCKER_FAIL:-no failure}"*) echo "failed as told" >&2; exit 1 ;;
"service inspect"*) echo 3 ;;
"ps -q"*) echo "abc123" ;;
esac
`)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_DOCKER_FAIL", "")
	return log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

var containerStack = map[string]any{
	"dockerHost": "ssh://deploy@203.0.113.10",
	"runtime":    "container",
	"backends":   []string{"app-prod-backend-abc-1", "app-prod-backend-abc-2"},
	"containers": map[string]string{"backup": "app-prod-backup"},
}

const dump = "app-prod-20261126T180000Z.dump"

func TestRestoreStopsTheBackendsAndStartsThemAgain(t *testing.T) {
	log := fakes(t, containerStack)
	var out, errs bytes.Buffer
	if code := run([]string{"restore", "--stack", "production", dump}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want := []string{
		"ssh://deploy@203.0.113.10 | exec app-prod-backup sh -c " + verifyScript + " verify " + dump,
		"ssh://deploy@203.0.113.10 | exec app-prod-backup sh /opt/backup/backup.sh once",
		"ssh://deploy@203.0.113.10 | stop app-prod-backend-abc-1 app-prod-backend-abc-2",
		"ssh://deploy@203.0.113.10 | exec app-prod-backup sh /opt/backup/restore.sh " + dump,
		"ssh://deploy@203.0.113.10 | start app-prod-backend-abc-1 app-prod-backend-abc-2",
	}
	if got := calls(t, log); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAFailedRestoreStillStartsTheBackends(t *testing.T) {
	log := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "restore.sh")
	var out, errs bytes.Buffer
	if code := run([]string{"restore", "--stack", "production", "--no-safety-dump", dump}, &out, &errs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	got := calls(t, log)
	if len(got) != 4 || !strings.Contains(got[1], "stop") || !strings.Contains(got[3], "start app-prod-backend-abc-1") {
		t.Errorf("docker calls:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(errs.String(), "restore.sh "+dump) {
		t.Errorf("the error does not say what failed: %s", errs.String())
	}
}

func TestAFailedSafetyDumpRestoresNothing(t *testing.T) {
	log := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "backup.sh once")
	var out, errs bytes.Buffer
	if code := run([]string{"restore", "--stack", "production", dump}, &out, &errs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := calls(t, log); len(got) != 2 {
		t.Errorf("after a failed safety dump: %v", got)
	}
	if !strings.Contains(errs.String(), "the safety dump failed, nothing was restored") {
		t.Errorf("stderr: %s", errs.String())
	}
}

func TestADumpThatFailsItsChecksumStopsNothing(t *testing.T) {
	log := fakes(t, containerStack)
	t.Setenv("FAKE_DOCKER_FAIL", "sha256sum")
	var out, errs bytes.Buffer
	if code := run([]string{"restore", "--stack", "production", dump}, &out, &errs); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// The check only: no safety dump, no backend stopped, nothing restored.
	if got := calls(t, log); len(got) != 1 || !strings.Contains(got[0], "sha256sum -c") {
		t.Errorf("docker calls after a dump that fails its checksum:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(errs.String(), "refusing "+dump+": it does not match its checksum") || !strings.Contains(errs.String(), "nothing was stopped or restored") {
		t.Errorf("stderr: %s", errs.String())
	}
}

func TestOnASwarmTheBackendServiceIsScaledDownAndBack(t *testing.T) {
	stack := map[string]any{
		"dockerHost": "ssh://deploy@manager",
		"runtime":    "swarm",
		"backends":   []string{"app-prod-backend"},
		"containers": map[string]string{"backup": "app-prod-backup"},
	}
	log := fakes(t, stack)
	var out, errs bytes.Buffer
	if code := run([]string{"restore", "--stack", "production", "--no-safety-dump", dump}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want := []string{
		"ssh://deploy@manager | ps -q --filter label=com.docker.swarm.service.name=app-prod-backup",
		"ssh://deploy@manager | exec abc123 sh -c " + verifyScript + " verify " + dump,
		"ssh://deploy@manager | service inspect --format {{.Spec.Mode.Replicated.Replicas}} app-prod-backend",
		"ssh://deploy@manager | service scale --detach=false app-prod-backend=0",
		"ssh://deploy@manager | exec abc123 sh /opt/backup/restore.sh " + dump,
		"ssh://deploy@manager | service scale --detach=false app-prod-backend=3",
	}
	if got := calls(t, log); !slices.Equal(got, want) {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestList(t *testing.T) {
	log := fakes(t, containerStack)
	var out, errs bytes.Buffer
	if code := run([]string{"list", "--stack", "production"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if got := calls(t, log); !slices.Equal(got, []string{"ssh://deploy@203.0.113.10 | exec app-prod-backup sh /opt/backup/backup.sh list"}) {
		t.Errorf("docker calls: %v", got)
	}
}

func TestWrongUsageChangesNothing(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"restore", dump},
		{"restore", "--stack", "production"},
		{"restore", "--stack", "production", "../../etc/passwd"},
		{"restore", "--stack", "production", "a.dump", "b.dump"},
		{"list", "--stack", "production", "extra"},
		{"drop", "--stack", "production"},
	} {
		log := fakes(t, containerStack)
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if _, err := os.Stat(log); err == nil {
			t.Errorf("%v called docker", args)
		}
	}
}

func TestAStackWithoutBackupsIsNamed(t *testing.T) {
	fakes(t, map[string]any{"dockerHost": "unix:///var/run/docker.sock", "backends": []string{"b-1"}, "containers": map[string]string{}})
	var out, errs bytes.Buffer
	if code := run([]string{"list", "--stack", "local"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "stack local runs no backup service") {
		t.Errorf("exit %d: %s", code, errs.String())
	}
}
