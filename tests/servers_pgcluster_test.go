package tests

// Throwaway Postgres clusters for the tests that need a real Postgres: the
// render checks (servers_postgres_test.go), the backup scripts and the
// password step.

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// postgresBinaries are the Postgres programs the tests run: the server and
// initdb for a cluster, psql for queries, pg_isready to wait for the backup
// tests' cluster, pg_dump and pg_restore for the backup scripts.
var postgresBinaries = []string{"initdb", "postgres", "psql", "pg_isready", "pg_dump", "pg_restore"}

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
		missing(t, "%s from Postgres not found in /usr/lib/postgresql/*/bin or beside initdb on $PATH (apt-get install postgresql)", strings.Join(lacks, ", "))
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
