//go:build linux

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The password step's script, as the program ships it, against a real
// Postgres set up as the image sets it up: local connections trusted, TCP
// ones by password. After a rotation the cluster has the new password and
// refuses the old one.
func TestThePasswordStepSetsTheNewPasswordOnARealPostgres(t *testing.T) {
	tools := backupRequireTools(t)
	cluster := backupStartCluster(t, tools, "--auth-local=trust", "--auth-host=scram-sha-256")
	script := deployOK(t, "production", fixtureConfig(t, "production")).container("postgres-password").strings("command")
	if len(script) != 3 || script[0] != "sh" || script[1] != "-c" {
		t.Fatalf("the password step runs %q", script)
	}

	const newPassword = `n3w 'pass' "word" $x \ `
	secrets := t.TempDir()
	passwordFile := filepath.Join(secrets, "postgres-password")
	if err := os.WriteFile(passwordFile, []byte(newPassword), 0o444); err != nil {
		t.Fatal(err)
	}
	// Only the paths differ from the container's: the socket directory and
	// the password file are the test's.
	body := strings.NewReplacer("/var/run/postgresql", cluster.sockets, "/run/secrets/postgres-password", passwordFile).Replace(script[2])
	// psql as the step runs it, behind a wrapper that records its command
	// line: what any user of the host sees in ps.
	wrapped := t.TempDir()
	argv := filepath.Join(wrapped, "argv")
	wrapper := "#!/bin/sh\nprintf '%s\\n' \"$@\" >>" + argv + "\nexec " + filepath.Join(tools.pgBin, "psql") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrapped, "psql"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, shell := range backupShells(t, tools) {
		cmd := exec.Command(shell.argv[0], append(shell.argv[1:], "-c", body)...)
		cmd.Env = []string{"PATH=" + wrapped + ":" + shell.path, "POSTGRES_USER=" + cluster.superuser, "POSTGRES_DB=postgres", "PGPORT=" + strconv.Itoa(cluster.port)}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: the password step failed: %v\n%s", shell.name, err, out)
		}
		if strings.Contains(string(out), newPassword) {
			t.Errorf("%s: the password step printed the password", shell.name)
		}
	}
	ran, err := os.ReadFile(argv)
	if err != nil || !strings.Contains(string(ran), "ON_ERROR_STOP=1") {
		t.Fatalf("the step's psql ran with no command line recorded (%v): %q", err, ran)
	}
	if strings.Contains(string(ran), "n3w") {
		t.Errorf("the password is on psql's command line, which the host's ps shows:\n%s", ran)
	}

	login := func(password string) error {
		cmd := exec.Command(filepath.Join(tools.pgBin, "psql"), "-X", "-At", "-c", "SELECT 1")
		cmd.Env = []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(cluster.port), "PGUSER=" + cluster.superuser,
			"PGDATABASE=postgres", "PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=5"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	}
	if err := login(newPassword); err != nil {
		t.Errorf("the new password does not log in over TCP: %s", err.(*exec.ExitError).Stderr)
	}
	if err := login(cluster.password); err == nil {
		t.Errorf("the old password still logs in")
	}
}

// The password step waits for the server itself (it no longer waits for the
// server container's first healthcheck): started before Postgres, it ends
// once the server accepts connections; with no server it gives up at its
// deadline, saying so.
func TestThePasswordStepWaitsForARealPostgres(t *testing.T) {
	tools := backupRequireTools(t)
	script := deployOK(t, "production", fixtureConfig(t, "production")).container("postgres-password").strings("command")
	shell := backupShells(t, tools)[0]
	run := func(sockets, passwordFile string, port int, deadline string) *exec.Cmd {
		body := strings.NewReplacer("/var/run/postgresql", sockets, "/run/secrets/postgres-password", passwordFile,
			"+ 100 ))", "+ "+deadline+" ))").Replace(script[2])
		cmd := exec.Command(shell.argv[0], append(shell.argv[1:], "-c", body)...)
		cmd.Env = []string{"PATH=" + shell.path, "POSTGRES_USER=app", "POSTGRES_DB=postgres", "PGPORT=" + strconv.Itoa(port)}
		return cmd
	}
	passwordFile := filepath.Join(t.TempDir(), "postgres-password")
	if err := os.WriteFile(passwordFile, []byte("n3w-password"), 0o444); err != nil {
		t.Fatal(err)
	}

	cluster := newPgCluster(t, tools.pgBin, pgOptions{superuser: "app", password: backupPassword, auth: []string{"--auth-local=trust", "--auth-host=scram-sha-256"}})
	port := freePort(t)
	step := run(cluster.sockets, passwordFile, port, "100")
	var out strings.Builder
	step.Stdout, step.Stderr = &out, &out
	if err := step.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- step.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the step ended before the server started (%v):\n%s", err, out.String())
	case <-time.After(1500 * time.Millisecond):
	}
	if _, err := cluster.startOn(t, port, backupServerFlags); err != nil {
		t.Fatalf("postgres did not start: %v", err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "is the stack's") {
			t.Fatalf("the step failed once the server started (%v):\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the step did not end within 30 s of the server's start:\n%s", out.String())
	}

	started := time.Now()
	gaveUp, err := run(t.TempDir(), passwordFile, port, "1").CombinedOutput()
	if err == nil || !strings.Contains(string(gaveUp), "not accepting connections") {
		t.Errorf("with no server the step did not give up with a message (%v):\n%s", err, gaveUp)
	}
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("with a 1 s deadline the step gave up after %v", took)
	}
}
