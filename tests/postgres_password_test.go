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

// passwordStep is the password step's script as the program ships it, with
// only the paths changed to a test's: the socket directory and the two
// password files.
type passwordStep struct {
	script, sockets, appFile, superFile string
}

func newPasswordStep(t *testing.T, stack string, cfg map[string]any, sockets string) *passwordStep {
	t.Helper()
	command := deployOK(t, stack, cfg).container("postgres-password").strings("command")
	if len(command) != 3 || command[0] != "sh" || command[1] != "-c" {
		t.Fatalf("the password step runs %q", command)
	}
	dir := t.TempDir()
	s := &passwordStep{sockets: sockets, appFile: filepath.Join(dir, "postgres-password"), superFile: filepath.Join(dir, "postgres-superuser-password")}
	s.script = strings.NewReplacer("/run/secrets/postgres-password", s.appFile, "/run/secrets/postgres-superuser-password", s.superFile).Replace(command[2])
	return s
}

// passwords writes the stack's passwords, as the step's files hold them.
func (s *passwordStep) passwords(t *testing.T, app, super string) {
	t.Helper()
	for file, pw := range map[string]string{s.appFile: app, s.superFile: super} {
		if err := os.WriteFile(file, []byte(pw), 0o444); err != nil {
			t.Fatal(err)
		}
	}
}

// cmd runs the step under shell with psql from path, logging in over host
// (the socket directory, or 127.0.0.1 as on a swarm).
func (s *passwordStep) cmd(shell backupShell, path, host string, port int) *exec.Cmd {
	cmd := exec.Command(shell.argv[0], append(shell.argv[1:], "-c", s.script)...)
	cmd.Env = []string{"PATH=" + path, "PGHOST=" + host, "PGPORT=" + strconv.Itoa(port),
		"POSTGRES_USER=app", "POSTGRES_DB=app", "POSTGRES_SUPERUSER=postgres"}
	return cmd
}

// login is the cluster reached as user with password.
func login(c *pgCluster, user, password string) *pgCluster {
	as := *c
	as.superuser, as.password = user, password
	return &as
}

// appSchema is what an app's migrations make, as the image's superuser
// made it in a stack of the program's earlier versions: keys from serial
// and identity columns, a free sequence, a view, a materialized view, a
// function, an enum, a domain, a schema of its own, a large object; and
// pg_trgm, an extension whose objects stay with the superuser.
const appSchema = `
CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL);
CREATE TABLE tasks (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note int REFERENCES notes);
CREATE SEQUENCE invoice_numbers;
CREATE VIEW note_texts AS SELECT text FROM notes;
CREATE MATERIALIZED VIEW note_count AS SELECT count(*) FROM notes;
CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql AS 'SELECT 2 * $1';
CREATE TYPE mood AS ENUM ('ok', 'not ok');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE SCHEMA reports;
CREATE TABLE reports.daily (day date PRIMARY KEY);
SELECT lo_create(0);
INSERT INTO notes (text) SELECT 'note ' || n FROM generate_series(1, 100) n;
`

// checkLeastPrivilege fails the test unless the cluster has the stack's
// roles: postgres the bootstrap superuser with superPW, app a plain role
// with appPW that owns the database app and all that is in it, and can do
// the app's own work and nothing more.
func checkLeastPrivilege(t *testing.T, c *pgCluster, appPW, superPW string, oldPasswords ...string) {
	t.Helper()
	super := login(c, "postgres", superPW)
	if got := super.psql(t, "app", `SELECT oid, rolsuper FROM pg_roles WHERE rolname = current_user`); got != "10\tt\n" {
		t.Errorf("postgres is not the bootstrap superuser: %q", got)
	}
	if got := super.psql(t, "app", `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin,
		(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = 'app'`); got != "f\tf\tf\tf\tf\tt\t0\n" {
		t.Errorf("app's attributes (super, createrole, createdb, replication, bypassrls, login, memberships): %q", got)
	}
	if got := super.psql(t, "app", `SELECT datdba::regrole FROM pg_database WHERE datname = 'app'`); got != "app\n" {
		t.Errorf("the database app is owned by %q", got)
	}
	// Everything the app made is app's; what pg_trgm installed stays the
	// superuser's.
	if got := super.psql(t, "app", `SELECT string_agg(format('%s %s', c.relname, c.relowner::regrole), ', ')
		FROM pg_class c WHERE c.oid >= 16384 AND c.relkind IN ('r', 'S', 'v', 'm', 'i') AND c.relowner <> 'app'::regrole`); got != "\n" {
		t.Errorf("relations not owned by app: %s", got)
	}
	for _, q := range []string{
		`SELECT count(*) FROM pg_proc WHERE proname = 'twice' AND proowner = 'app'::regrole`,
		`SELECT count(*) / 2 FROM pg_type WHERE typname IN ('mood', 'positive') AND typowner = 'app'::regrole`,
		`SELECT count(*) FROM pg_namespace WHERE nspname = 'reports' AND nspowner = 'app'::regrole`,
		`SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner = 'app'::regrole`,
		`SELECT count(*) FROM pg_proc WHERE proname = 'similarity' AND proowner = 10`,
	} {
		if got := super.psql(t, "app", q); got != "1\n" {
			t.Errorf("%s: %q", q, got)
		}
	}
	app := login(c, "app", appPW)
	if got := app.psql(t, "app", `INSERT INTO notes (text) VALUES ('as app'); INSERT INTO tasks (note) VALUES (1);
		SELECT nextval('invoice_numbers'); REFRESH MATERIALIZED VIEW note_count; CREATE TABLE app_made (id int); DROP TABLE app_made;
		SELECT count(*) > 100 FROM note_texts`); !strings.HasSuffix(got, "\nt\n") {
		t.Errorf("app's own queries: %q", got)
	}
	for _, q := range []string{`CREATE ROLE intruder SUPERUSER`, `ALTER SYSTEM SET work_mem = '1GB'`, `COPY (SELECT 1) TO PROGRAM 'id'`,
		`CREATE DATABASE other`, `SELECT pg_read_file('/etc/passwd')`, `ALTER ROLE app SUPERUSER`} {
		if out, err := app.query("app", q); err == nil {
			t.Errorf("app may %s: %q", q, out)
		}
	}
	for _, old := range oldPasswords {
		for _, user := range []string{"app", "postgres"} {
			if _, err := login(c, user, old).query("app", "SELECT 1"); err == nil {
				t.Errorf("an old password still logs in as %s", user)
			}
		}
	}
}

// The password step on a real Postgres set up as the image sets it up
// (local connections trusted, TCP ones by password) for a stack of the
// program's earlier versions: the image's bootstrap superuser is app, which
// owns what the migrations made. The step makes postgres the superuser and
// app a plain owner of the database, keeping every row; a second run (a
// rotation, under the other shell) changes only the passwords. Over TCP,
// as on a swarm, a later rotation logs in as postgres by password.
func TestThePasswordStepMakesALeastPrivilegeRoleOnARealPostgres(t *testing.T) {
	tools := backupRequireTools(t)
	const firstPW = `f1rst 'app' "pass" $x \ `
	cluster := startPgCluster(t, tools.pgBin, pgOptions{superuser: "app", password: firstPW, auth: []string{"--auth-local=trust", "--auth-host=scram-sha-256"}}, backupServerFlags...)
	cluster.psql(t, "postgres", "CREATE DATABASE app")
	cluster.psql(t, "app", appSchema+"CREATE EXTENSION pg_trgm;")
	step := newPasswordStep(t, "production", fixtureConfig(t, "production"), cluster.sockets)

	// psql as the step runs it, behind a wrapper that records its command
	// line: what any user of the host sees in ps.
	wrapped := t.TempDir()
	argv := filepath.Join(wrapped, "argv")
	wrapper := "#!/bin/sh\nprintf '%s\\n' \"$@\" >>" + argv + "\nexec " + filepath.Join(tools.pgBin, "psql") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrapped, "psql"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	appPW, superPW := firstPW, `sup3r 'user' "pass" $y \ `
	used := []string{}
	shells := backupShells(t, tools)
	if len(shells) == 1 {
		shells = append(shells, shells[0])
	}
	for i, shell := range shells {
		if i > 0 {
			// A rotation of both.
			used = append(used, appPW, superPW)
			appPW, superPW = appPW+"-2", superPW+"-2"
		}
		step.passwords(t, appPW, superPW)
		started := time.Now()
		out, err := step.cmd(shell, wrapped+":"+shell.path, cluster.sockets, cluster.port).CombinedOutput()
		if err != nil {
			t.Fatalf("%s, run %d: the password step failed: %v\n%s", shell.name, i+1, err, out)
		}
		t.Logf("%s, run %d: %.1f s: %s", shell.name, i+1, time.Since(started).Seconds(), strings.TrimSpace(string(out)))
		if strings.Contains(string(out), appPW) || strings.Contains(string(out), superPW) {
			t.Errorf("%s: the password step printed a password:\n%s", shell.name, out)
		}
		checkLeastPrivilege(t, cluster, appPW, superPW, used...)
	}
	if got := login(cluster, "app", appPW).psql(t, "app", "SELECT count(*) FROM notes WHERE text LIKE 'note %'"); got != "100\n" {
		t.Errorf("rows of the notes kept: %q", got)
	}
	ran, err := os.ReadFile(argv)
	if err != nil || !strings.Contains(string(ran), "ON_ERROR_STOP=1") {
		t.Fatalf("the step's psql ran with no command line recorded (%v): %q", err, ran)
	}
	if strings.Contains(string(ran), `"pass"`) {
		t.Errorf("a password is on psql's command line, which the host's ps shows:\n%s", ran)
	}

	// Over TCP, as a swarm's step logs in: a rotation of app's password.
	used = append(used, appPW)
	appPW += "-3"
	step.passwords(t, appPW, superPW)
	if out, err := step.cmd(shells[0], shells[0].path, "127.0.0.1", cluster.port).CombinedOutput(); err != nil {
		t.Fatalf("over TCP the password step failed: %v\n%s", err, out)
	}
	checkLeastPrivilege(t, cluster, appPW, superPW, used...)
}

// A swarm's step on a cluster the image has just made, over TCP: it logs
// in as the image's superuser, app, with the password the image gave it.
func TestThePasswordStepConvertsAFreshClusterOverTCP(t *testing.T) {
	tools := backupRequireTools(t)
	const appPW = "app-password"
	cluster := startPgCluster(t, tools.pgBin, pgOptions{superuser: "app", password: appPW, auth: []string{"--auth-local=trust", "--auth-host=scram-sha-256"}}, backupServerFlags...)
	cluster.psql(t, "postgres", "CREATE DATABASE app")
	cluster.psql(t, "app", appSchema+"CREATE EXTENSION pg_trgm;")
	step := newPasswordStep(t, "production", swarmConfig(t), t.TempDir())
	step.passwords(t, appPW, "superuser-password")
	shell := backupShells(t, tools)[0]
	if out, err := step.cmd(shell, shell.path, "127.0.0.1", cluster.port).CombinedOutput(); err != nil {
		t.Fatalf("the password step failed: %v\n%s", err, out)
	}
	checkLeastPrivilege(t, cluster, appPW, "superuser-password")
}

// The password step waits for the server itself (not for the server
// container's first healthcheck): started before Postgres, it ends once
// the server accepts connections; with no server it gives up at its
// deadline, saying so.
func TestThePasswordStepWaitsForARealPostgres(t *testing.T) {
	tools := backupRequireTools(t)
	shell := backupShells(t, tools)[0]
	cluster := newPgCluster(t, tools.pgBin, pgOptions{superuser: "app", password: backupPassword, auth: []string{"--auth-local=trust", "--auth-host=scram-sha-256"}})
	step := newPasswordStep(t, "production", fixtureConfig(t, "production"), cluster.sockets)
	step.passwords(t, "n3w-password", "n3w-superuser-password")
	port := freePort(t)
	run := func(sockets, deadline string) *exec.Cmd {
		s := *step
		s.script = strings.NewReplacer("+ 100 ))", "+ "+deadline+" ))", "connections 100 s", "connections "+deadline+" s").Replace(s.script)
		// The image's database is postgres here.
		cmd := s.cmd(shell, shell.path, sockets, port)
		cmd.Env = append(cmd.Env, "POSTGRES_DB=postgres")
		return cmd
	}

	starting := run(cluster.sockets, "100")
	var out strings.Builder
	starting.Stdout, starting.Stderr = &out, &out
	if err := starting.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- starting.Wait() }()
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
		if err != nil || !strings.Contains(out.String(), "are the stack's") {
			t.Fatalf("the step failed once the server started (%v):\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the step did not end within 30 s of the server's start:\n%s", out.String())
	}

	started := time.Now()
	gaveUp, err := run(t.TempDir(), "1").CombinedOutput()
	if err == nil || !strings.Contains(string(gaveUp), "not accepting connections 1 s after the step began") {
		t.Errorf("with no server the step did not give up with a message (%v):\n%s", err, gaveUp)
	}
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("with a 1 s deadline the step gave up after %v", took)
	}
}
