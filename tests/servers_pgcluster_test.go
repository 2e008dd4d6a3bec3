package tests

// Throwaway Postgres clusters for the tests that need a real Postgres: the
// render checks (servers_postgres_test.go), the backup scripts and the
// password step.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postgresBinaries are the Postgres programs the tests run: the server and
// initdb for a cluster, psql for queries and to wait for a cluster,
// pg_dump and pg_restore for the backup scripts.
var postgresBinaries = []string{"initdb", "postgres", "psql", "pg_dump", "pg_restore"}

// requirePostgres returns the directory that holds every one of
// postgresBinaries: Debian's /usr/lib/postgresql/<version>/bin, the newest
// version if several are installed (the /usr/bin names are wrappers that
// pick a version by cluster), else the directory of initdb on $PATH, as
// found or with its links resolved (Homebrew links its binaries into
// bin/). Locally a missing binary skips the test naming what the best
// candidate lacks; under CI=true it fails it.
func requirePostgres(t *testing.T) string {
	t.Helper()
	dir, lacks := findPostgres()
	if dir == "" {
		missing(t, strings.Join(lacks, ", ")+" from Postgres not found in /usr/lib/postgresql/*/bin or beside initdb on $PATH", "apt-get install postgresql")
	}
	return dir
}

// findPostgres is requirePostgres's search. When no candidate has every
// binary, lacks names what the most complete one is missing.
func findPostgres() (dir string, lacks []string) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if path, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(path))
		if real, err := filepath.EvalSymlinks(path); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	lacks = postgresBinaries
	for _, dir := range dirs {
		var absent []string
		for _, name := range postgresBinaries {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				absent = append(absent, name)
			}
		}
		if len(absent) == 0 {
			return dir, nil
		}
		if len(absent) < len(lacks) {
			lacks = absent
		}
	}
	return "", lacks
}

// pgOptions configure a throwaway cluster. The zero value is the render
// checks' cluster: superuser postgres, every connection trusted.
type pgOptions struct {
	// superuser owns the cluster (initdb -U), as POSTGRES_USER does in the
	// image; "" is postgres.
	superuser string
	// password is the superuser's (initdb --pwfile), which the test's own
	// clients send; "" for none.
	password string
	// auth are initdb's authentication options; none is --auth=trust.
	auth []string
}

// pgCluster is a throwaway database cluster in a temporary directory, run by
// an unprivileged account when the tests run as root (Postgres refuses
// root). The directory is removed when the test ends, after the server has
// stopped.
type pgCluster struct {
	bin                 string
	data, sockets       string
	as                  *unprivileged
	superuser, password string
	// passwordFile holds the password followed by a newline, as a file
	// written by hand would; "" without a password.
	passwordFile string
	// port is the running server's, set by start.
	port int
}

// newPgCluster initialises a cluster with Postgres's binaries in bin.
func newPgCluster(t *testing.T, bin string, opts pgOptions) *pgCluster {
	t.Helper()
	base := serverDir(t, "postgres")
	c := &pgCluster{
		bin:       bin,
		data:      filepath.Join(base, "data"),
		sockets:   filepath.Join(base, "sockets"),
		as:        unprivilegedUser(t, "postgres"),
		superuser: cmp.Or(opts.superuser, "postgres"),
		password:  opts.password,
	}
	for _, dir := range []string{c.data, c.sockets} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		c.as.own(t, dir)
	}
	args := []string{"-D", c.data, "-U", c.superuser, "--encoding=UTF8", "--locale=C", "--no-sync"}
	if c.password != "" {
		c.passwordFile = filepath.Join(base, "password")
		initPW := filepath.Join(base, "initdb-password")
		for _, f := range []string{initPW, c.passwordFile} {
			if err := os.WriteFile(f, []byte(c.password+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c.as.own(t, initPW)
		args = append(args, "--pwfile="+initPW)
	}
	if len(opts.auth) == 0 {
		args = append(args, "--auth=trust")
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), append(args, opts.auth...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	c.as.apply(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v:\n%s", err, out)
	}
	return c
}

// startPgCluster initialises a cluster and starts it with flags, or fails
// the test.
func startPgCluster(t *testing.T, bin string, opts pgOptions, flags ...string) *pgCluster {
	t.Helper()
	c := newPgCluster(t, bin, opts)
	if _, err := c.start(t, flags); err != nil {
		t.Fatalf("postgres did not start: %v", err)
	}
	return c
}

// start runs the server with flags after the test's own (data directory,
// a free port, loopback only, sockets in the temporary tree) and waits
// until it answers queries. It is stopped when the test ends. A server
// that exits first gives errStartFailed with its output. A free port can be
// taken between the check and the server's bind: then it tries another.
func (c *pgCluster) start(t *testing.T, flags []string) (*server, error) {
	t.Helper()
	for try := 1; ; try++ {
		srv, err := c.startOn(t, freePort(t), flags)
		if try < 3 && errors.Is(err, errStartFailed) && strings.Contains(srv.out.String(), "Address already in use") {
			continue
		}
		return srv, err
	}
}

func (c *pgCluster) startOn(t *testing.T, port int, flags []string) (*server, error) {
	t.Helper()
	c.port = port
	args := append([]string{"-D", c.data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + c.sockets}, flags...)
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	c.as.apply(cmd)
	// SIGINT is Postgres's fast shutdown.
	srv, err := startServer(t, "postgres", cmd, syscall.SIGINT)
	if err != nil {
		return nil, err
	}
	if err := srv.waitListening(fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
		return srv, err
	}
	// Ready when it answers as this cluster: what listens on the port
	// could be another test's server while this one fails to bind it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.query("postgres", "SHOW data_directory")
		if err == nil {
			if strings.TrimSpace(out) == c.data {
				return srv, nil
			}
			err = fmt.Errorf("port %d answers for the cluster in %s", port, strings.TrimSpace(out))
		}
		if srv.exited() {
			return srv, fmt.Errorf("%s: %w (%v): %v\n%s", srv.name, errStartFailed, srv.err, err, srv.out.String())
		}
		if time.Now().After(deadline) {
			return srv, fmt.Errorf("postgres does not answer: %v\n%s", err, srv.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env is the connection to database db over TCP, as libpq reads it, for
// the test's own clients: the whole environment they get.
func (c *pgCluster) env(db string) []string {
	env := []string{
		"PATH=" + c.bin + ":/usr/bin:/bin",
		"LC_ALL=C",
		"PGHOST=127.0.0.1",
		"PGPORT=" + strconv.Itoa(c.port),
		"PGUSER=" + c.superuser,
		"PGDATABASE=" + db,
		"PGCONNECT_TIMEOUT=10",
	}
	if c.password != "" {
		env = append(env, "PGPASSWORD="+c.password)
	}
	return env
}

// client runs one of the cluster's client programs against database db,
// with stdin as its input, and returns its standard output.
func (c *pgCluster) client(db, stdin, program string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, program), args...)
	cmd.Env = c.env(db)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", program, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// query runs sql in database db through psql, stopping at the first error,
// and returns the rows unaligned, one a line, fields separated by tabs.
func (c *pgCluster) query(db, sql string) (string, error) {
	return c.client(db, sql, "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1")
}

// psql is query that fails the test on an error.
func (c *pgCluster) psql(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := c.query(db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
