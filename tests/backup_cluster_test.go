//go:build linux

package tests

// The backup tests' tools and Postgres cluster: the shared throwaway
// cluster (servers_pgcluster_test.go) with password authentication as in
// the stack. Everything here is prefixed backup so that it stays out of the
// way of other tests in the package.

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
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

// backupPassword is the superuser's password in the backup tests' cluster.
// Quotes, a dollar, a backslash and spaces: the scripts must pass it
// through untouched.
const backupPassword = `s3cret 'with' "quotes" $HOME \n`

// backupServerFlags make the cluster a quick throwaway one: no durability,
// small memory.
var backupServerFlags = []string{"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=30"}

// backupStartCluster starts a cluster for the backup tests, stopped and
// removed when the test ends: owned by app, as POSTGRES_USER makes it in
// the image, with backupPassword as its password, and initdb's given
// authentication options.
func backupStartCluster(t *testing.T, tools backupTools, auth ...string) *pgCluster {
	t.Helper()
	return startPgCluster(t, tools.pgBin, pgOptions{superuser: "app", password: backupPassword, auth: auth}, backupServerFlags...)
}

// databaseExists tells whether the cluster has database db.
func (c *pgCluster) databaseExists(t *testing.T, db string) bool {
	t.Helper()
	return c.psql(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", db)) == "1\n"
}

// snapshot is the whole of database db as pg_dump writes it in plain SQL:
// schema, every row, sequence positions, indexes and constraints. The
// \restrict lines, which carry a random key per run, are left out.
func (c *pgCluster) snapshot(t *testing.T, db string) string {
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
