// Package fakecli puts stand-ins for the pulumi, docker and ssh commands
// first on PATH, for the tests of the commands that drive a deployed stack
// (backupctl, stackctl): pulumi prints the stack outputs a test gives, ssh
// logs how it was run, and docker is the test's own script.
package fakecli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pulumi prints the stack outputs for `pulumi stack output --json`, or fails
// as pulumi does for a stack that does not exist with FAKE_PULUMI_FAIL. It
// logs any other call to pulumi.log, and fails it with FAKE_PULUMI_UP_FAIL
// when that is `up`.
const Pulumi = `#!/bin/sh
dir=$(dirname "$0")
if [ "$1 $2 $3" != "stack output --json" ]; then
	printf '%s\n' "$*" >>"$dir/pulumi.log"
	if [ "$1" = up ] && [ -n "${FAKE_PULUMI_UP_FAIL:-}" ]; then echo "error: update failed" >&2; exit 255; fi
	exit 0
fi
if [ -n "${FAKE_PULUMI_FAIL:-}" ]; then
	echo "error: no stack named '$5' found" >&2
	exit 255
fi
cat "$dir/outputs.json"
`

// SSH logs its arguments, each in brackets, one call a line, and fails as
// ssh does with FAKE_SSH_FAIL.
const SSH = `#!/bin/sh
printf '[%s]' "$@" >>"$(dirname "$0")/ssh.log"
echo >>"$(dirname "$0")/ssh.log"
if [ -n "${FAKE_SSH_FAIL:-}" ]; then
	echo "ssh: connect to host 203.0.113.10 port 22: Connection refused" >&2
	exit 255
fi
`

// ConnectViaSSH is the start of a docker stand-in that, for an ssh://
// DOCKER_HOST, first runs ssh as the real CLI's connection helper does,
// and fails as the CLI does when ssh fails.
const ConnectViaSSH = `case $DOCKER_HOST in
ssh://*)
	h=${DOCKER_HOST#ssh://}
	if ! err=$(ssh -l "${h%@*}" "-o ConnectTimeout=30" -T -- "${h#*@}" "docker system dial-stdio" 2>&1 </dev/null); then
		echo "error during connect: Get \"http://docker.example.com/v1.50/version\": command [ssh ...] has exited with exit status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=$err" >&2
		exit 1
	fi
	;;
esac
`

// Install writes the stand-ins (docker is the test's script) into a new
// directory first on PATH, pulumi printing outputs, and returns the
// directory, where the logs are. Each test's own FAKE_ variables (env)
// are emptied, and TMPDIR is a directory of the test's.
func Install(t *testing.T, outputs map[string]any, docker string, env ...string) string {
	t.Helper()
	dir := t.TempDir()
	js, err := json.Marshal(outputs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "outputs.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"pulumi": Pulumi, "docker": docker, "ssh": SSH} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("TMPDIR", t.TempDir())
	for _, v := range append(env, "FAKE_SSH_FAIL", "FAKE_PULUMI_FAIL", "FAKE_PULUMI_UP_FAIL") {
		t.Setenv(v, "")
	}
	return dir
}

// Lines are the lines of a stand-in's log, none when it was not called.
func Lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
