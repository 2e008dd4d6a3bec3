//go:build linux

package tests

// A throwaway Postgres cluster for the backup tests: Debian's binaries,
// started as an unprivileged user in a temporary directory on a loopback
// port, with password authentication over TCP as in the stack. Everything
// here is prefixed backup so that it stays out of the way of other tests in
// the package.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// backupTools are the binaries the backup tests run.
type backupTools struct {
	// pgBin holds Postgres's programs (requirePostgres).
	pgBin string
	// sh is the system's sh (dash on Debian), busybox the busybox binary
	// ("" when it is not installed): the shell of the alpine image.
	sh, busybox string
}

// backupRequireTools finds the tools or skips the test naming what is
// missing (fails it under CI=true).
func backupRequireTools(t *testing.T) backupTools {
	t.Helper()
	tools := backupTools{pgBin: requirePostgres(t), sh: requireBinary(t, "sh", "dash")}
	tools.busybox, _ = exec.LookPath("busybox")
	return tools
}

// backupCluster is a running Postgres server.
type backupCluster struct {
	tools backupTools
	dir   string
	port  int
	// superuser owns the cluster, as POSTGRES_USER does in the image.
	superuser string
	password  string
	// passwordFile holds the password followed by a newline, as a file
	// written by hand would.
	passwordFile string
}

// backupStartCluster initialises and starts a cluster, stopped and removed
// when the test ends. Every connection needs the password.
func backupStartCluster(t *testing.T, tools backupTools) *backupCluster {
	t.Helper()
	return backupStartClusterWith(t, tools, "--auth=scram-sha-256")
}

// backupStartClusterWith starts a cluster with initdb's given auth options.
func backupStartClusterWith(t *testing.T, tools backupTools, auth ...string) *backupCluster {
	t.Helper()
	// initdb and postgres refuse root: as root they run as Debian's
	// postgres user, or nobody.
	as := unprivilegedUser(t, "postgres")
	dir, err := os.MkdirTemp("", "backup-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &backupCluster{
		tools:     tools,
		dir:       dir,
		superuser: "app",
		// Quotes, a dollar, a backslash and spaces: the scripts must pass
		// it through untouched.
		password:     `s3cret 'with' "quotes" $HOME \n`,
		passwordFile: filepath.Join(dir, "password"),
	}
	initPW := filepath.Join(dir, "initdb-password")
	for _, f := range []string{initPW, c.passwordFile} {
		if err := os.WriteFile(f, []byte(c.password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, initPW} {
		as.own(t, p)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(tools.pgBin, "initdb"), append([]string{"-D", data, "-U", c.superuser,
		"--pwfile=" + initPW, "-E", "UTF8", "--locale=C", "--no-sync"}, auth...)...)
	as.apply(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	// A free port can be taken between the check and the server's bind.
	var lastErr error
	for try := 0; try < 3; try++ {
		if lastErr = c.start(t, as, data); lastErr == nil {
			return c
		}
	}
	t.Fatalf("postgres did not start: %v", lastErr)
	return nil
}

func (c *backupCluster) start(t *testing.T, as *unprivileged, data string) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	logFile := filepath.Join(c.dir, "postgres.log")
	log, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer log.Close()
	server := exec.Command(filepath.Join(c.tools.pgBin, "postgres"), "-D", data,
		"-p", strconv.Itoa(c.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+c.dir,
		// A throwaway cluster: no durability, small memory.
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=30")
	server.Stdout, server.Stderr = log, log
	server.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	as.apply(server)
	if err := server.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	stop := func() {
		server.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			server.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := exec.Command(filepath.Join(c.tools.pgBin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-t", "1")
		if ready.Run() == nil {
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logFile)
			return fmt.Errorf("postgres exited:\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logFile)
			return fmt.Errorf("postgres was not ready within 30s:\n%s", out)
		}
	}
}

// env is the connection to database db, as libpq reads it, for the test's
// own clients (the scripts get PGPASSWORD_FILE instead of PGPASSWORD).
func (c *backupCluster) env(db string) []string {
	return []string{
		"PATH=" + c.tools.pgBin + ":/usr/bin:/bin",
		"PGHOST=127.0.0.1",
		"PGPORT=" + strconv.Itoa(c.port),
		"PGUSER=" + c.superuser,
		"PGDATABASE=" + db,
		"PGPASSWORD=" + c.password,
		"PGCONNECT_TIMEOUT=10",
	}
}

// client runs one of the cluster's client programs against database db and
// returns its standard output.
func (c *backupCluster) client(db, stdin, program string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.tools.pgBin, program), args...)
	cmd.Env = c.env(db)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", program, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// psql runs sql in database db, stopping at the first error, and returns
// the rows unaligned, one per line, fields separated by |.
func (c *backupCluster) psql(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := c.client(db, sql, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// databaseExists tells whether the cluster has database db.
func (c *backupCluster) databaseExists(t *testing.T, db string) bool {
	t.Helper()
	return c.psql(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", db)) == "1\n"
}

// snapshot is the whole of database db as pg_dump writes it in plain SQL:
// schema, every row, sequence positions, indexes and constraints. The
// \restrict lines, which carry a random key per run, are left out.
func (c *backupCluster) snapshot(t *testing.T, db string) string {
	t.Helper()
	out, err := c.client(db, "", "pg_dump", "--no-owner")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, `\restrict `) || strings.HasPrefix(line, `\unrestrict `) {
			continue
		}
		kept = append(kept, line)
	}
	if len(kept) < 10 {
		t.Fatalf("pg_dump of %s wrote almost nothing:\n%s", db, out)
	}
	return strings.Join(kept, "\n")
}
