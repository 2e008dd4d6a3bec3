//go:build linux

package tests

// The backup container's scripts, run for real: the exact files in
// components/scripts, under the system's sh (dash on Debian, which refuses
// bashisms) and under busybox sh with busybox's own tools first on PATH (the
// shell and tools of postgres:16-alpine), against a throwaway cluster of
// Debian's Postgres.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestBackupScripts(t *testing.T) {
	tools := backupRequireTools(t)
	cluster := backupStartCluster(t, tools, "--auth=scram-sha-256")
	for _, shell := range backupShells(t, tools) {
		t.Run(shell.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				test func(t *testing.T, fx *backupFixture)
			}{
				{"RestoreFindsEveryRow", testBackupRestoreFindsEveryRow},
				{"CorruptDumpIsRefused", testBackupCorruptDumpIsRefused},
				{"FailedRestoreLeavesTheDatabase", testBackupFailedRestoreLeavesTheDatabase},
				{"Prune", testBackupPrune},
				{"PinnedDumpIsNeverPruned", testBackupPin},
				{"InterruptedRestoreLeavesTheDatabase", testBackupInterruptedRestore},
				{"Health", testBackupHealth},
				{"Loop", testBackupLoop},
				{"Configuration", testBackupConfiguration},
				{"Offsite", testBackupOffsite},
				{"OffsiteListAndFetch", testBackupOffsiteListAndFetch},
				{"OffsiteDisasterRecovery", testBackupOffsiteDisasterRecovery},
				{"OffsiteLoopCopiesANewDumpSoon", testBackupOffsiteLoop},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.test(t, newBackupFixture(t, cluster, shell)) })
			}
		})
	}
}

// backupShell is a shell to run the scripts with, and the PATH it gets.
type backupShell struct {
	name string
	argv []string
	path string
}

// backupShells are the system's sh and, when installed, busybox sh. Under
// busybox every applet is linked into a directory ahead of the rest of PATH,
// so that the scripts get busybox's date, stat, sha256sum and sort, as in
// the alpine image, and only the Postgres tools come from elsewhere.
func backupShells(t *testing.T, tools backupTools) []backupShell {
	t.Helper()
	sh := tools.sh
	if real, err := filepath.EvalSymlinks(sh); err == nil {
		sh = real
	}
	shells := []backupShell{{name: filepath.Base(sh), argv: []string{sh}, path: tools.pgBin + ":/usr/bin:/bin"}}
	if tools.busybox == "" {
		if onCI() {
			t.Fatal("the backup tests need busybox on CI, the shell of the alpine image (apt-get install -y busybox)")
		}
		t.Log("busybox is not installed: the scripts run under sh only (apt-get install -y busybox)")
		return shells
	}
	out, err := exec.Command(tools.busybox, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	applets := t.TempDir()
	for _, name := range strings.Fields(string(out)) {
		if err := os.Symlink(tools.busybox, filepath.Join(applets, name)); err != nil {
			t.Fatal(err)
		}
	}
	return append(shells, backupShell{
		name: "busybox",
		argv: []string{tools.busybox, "sh"},
		path: applets + ":" + tools.pgBin + ":/usr/bin:/bin",
	})
}

const backupPrefix = "django-stack-test"

var backupDatabases atomic.Int32

// backupFixture is one test's database, backup directory and environment.
type backupFixture struct {
	t       *testing.T
	cluster *pgCluster
	shell   backupShell
	db      string
	dir     string
	// vars are the scripts' environment, as the container would set it.
	vars map[string]string
	// printed is everything the scripts printed, searched for the password.
	printed *lockedBuffer
}

func newBackupFixture(t *testing.T, cluster *pgCluster, shell backupShell) *backupFixture {
	fx := &backupFixture{
		t:       t,
		cluster: cluster,
		shell:   shell,
		db:      fmt.Sprintf("app_%s_%d", shell.name, backupDatabases.Add(1)),
		dir:     filepath.Join(t.TempDir(), "backups"),
		printed: &lockedBuffer{},
	}
	fx.vars = map[string]string{
		"PGHOST":          "127.0.0.1",
		"PGPORT":          strconv.Itoa(cluster.port),
		"PGUSER":          cluster.superuser,
		"PGDATABASE":      fx.db,
		"PGPASSWORD_FILE": cluster.passwordFile,
		"BACKUP_DB_OWNER": fx.db + "_owner",
		"BACKUP_DIR":      fx.dir,
		"BACKUP_PREFIX":   backupPrefix,
		"BACKUP_INTERVAL": "3600",
		"BACKUP_KEEP":     "3",
		"BACKUP_MAX_AGE":  "86400",
	}
	if err := os.Mkdir(fx.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The application's role, as the password step makes it: no superuser.
	cluster.psql(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN", fx.vars["BACKUP_DB_OWNER"]))
	t.Cleanup(func() {
		if strings.Contains(fx.printed.String(), cluster.password) {
			t.Errorf("the scripts printed the database password:\n%s", fx.printed)
		}
	})
	return fx
}

// fresh is a new fixture on the same cluster and shell, for a subtest.
func (fx *backupFixture) fresh(t *testing.T) *backupFixture {
	return newBackupFixture(t, fx.cluster, fx.shell)
}

// with is the fixture's environment with some variables changed; an empty
// value removes the variable.
func (fx *backupFixture) with(kv ...string) map[string]string {
	vars := map[string]string{}
	for k, v := range fx.vars {
		vars[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(vars, kv[i])
		} else {
			vars[kv[i]] = kv[i+1]
		}
	}
	return vars
}

// backupResult is how a script run ended.
type backupResult struct {
	command        string
	code           int
	stdout, stderr string
}

func (r backupResult) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", r.command, r.code, r.stdout, r.stderr)
}

// command is the shell running one of the scripts with vars as its whole
// environment.
func (fx *backupFixture) command(ctx context.Context, vars map[string]string, script string, args ...string) *exec.Cmd {
	fx.t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "components", "scripts", script))
	if err != nil {
		fx.t.Fatal(err)
	}
	argv := append(append(append([]string{}, fx.shell.argv...), path), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + fx.shell.path}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	sort.Strings(cmd.Env)
	return cmd
}

// runWith runs a script to its end (a minute at most).
func (fx *backupFixture) runWith(vars map[string]string, script string, args ...string) backupResult {
	fx.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := fx.command(ctx, vars, script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := backupResult{command: strings.Join(append([]string{script}, args...), " "), stdout: stdout.String(), stderr: stderr.String()}
	fx.printed.WriteString(r.stdout + r.stderr)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		fx.t.Fatalf("%s: %v", r.command, err)
	}
	if ctx.Err() != nil {
		fx.t.Fatalf("%s did not finish within a minute:\n%s", r.command, r)
	}
	return r
}

func (fx *backupFixture) run(script string, args ...string) backupResult {
	fx.t.Helper()
	return fx.runWith(fx.vars, script, args...)
}

// ok runs a script that must succeed.
func (fx *backupFixture) ok(script string, args ...string) backupResult {
	fx.t.Helper()
	r := fx.run(script, args...)
	if r.code != 0 {
		fx.t.Fatalf("%s", r)
	}
	return r
}

// files are the names in the backup directory.
func (fx *backupFixture) files() []string {
	fx.t.Helper()
	entries, err := os.ReadDir(fx.dir)
	if err != nil {
		fx.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

var backupDumpName = regexp.MustCompile(`^` + regexp.QuoteMeta(backupPrefix) + `-\d{8}T\d{6}Z\.dump$`)

// once runs `backup.sh once` and returns the name of the dump it wrote,
// after checking the dump and its checksum file.
func (fx *backupFixture) once() string {
	t := fx.t
	t.Helper()
	before := map[string]bool{}
	for _, f := range fx.files() {
		before[f] = true
	}
	r := fx.ok("backup.sh", "once")
	var added []string
	for _, f := range fx.files() {
		if !before[f] {
			added = append(added, f)
		}
	}
	// Sorted, the dump comes before its checksum file; nothing else is left.
	if len(added) != 2 || !backupDumpName.MatchString(added[0]) || added[1] != added[0]+".sha256" {
		t.Fatalf("backup.sh once must add a dump and its checksum file, it added %v:\n%s", added, r)
	}
	name := added[0]
	if !strings.Contains(r.stdout, "dumped "+name) {
		t.Errorf("backup.sh once did not report %s:\n%s", name, r)
	}
	dump, err := os.ReadFile(filepath.Join(fx.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(dump, []byte("PGDMP")) {
		t.Errorf("%s is not a custom-format archive (starts %q)", name, dump[:min(len(dump), 8)])
	}
	sum, err := os.ReadFile(filepath.Join(fx.dir, name+".sha256"))
	if err != nil {
		t.Fatalf("no checksum file next to %s: %v", name, err)
	}
	h := sha256.Sum256(dump)
	if want := hex.EncodeToString(h[:]) + "  " + name + "\n"; string(sum) != want {
		t.Errorf("%s.sha256 = %q, want sha256sum's line %q", name, sum, want)
	}
	for _, f := range []string{name, name + ".sha256"} {
		info, err := os.Stat(filepath.Join(fx.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v: a dump holds every row, only its owner may read it", f, info.Mode().Perm())
		}
	}
	return name
}

// snapshot is the whole database, to compare.
func (fx *backupFixture) snapshot() string {
	fx.t.Helper()
	return fx.cluster.snapshot(fx.t, fx.db)
}

func (fx *backupFixture) psql(sql string) string {
	fx.t.Helper()
	return fx.cluster.psql(fx.t, fx.db, sql)
}

// backupSchema is the application data the round trip must bring back: a
// sequence with a gap, serial and bigserial keys, an expression index, foreign
// keys, a check constraint, a view, a table name with a space, and unicode,
// quotes, backslashes, tabs, newlines, NULLs, arrays, JSON and bytes.
const backupSchema = `
CREATE TABLE authors (
	id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	born date,
	bio text
);
CREATE TABLE books (
	id serial PRIMARY KEY,
	author_id bigint NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
	title text NOT NULL,
	price numeric(8, 2),
	tags text[],
	meta jsonb,
	cover bytea,
	added timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
CREATE INDEX books_title_lower ON books (lower(title));
CREATE SEQUENCE invoice_numbers START 1000;
CREATE TABLE "order lines" (
	invoice bigint PRIMARY KEY DEFAULT nextval('invoice_numbers'),
	book_id int NOT NULL REFERENCES books (id),
	quantity int NOT NULL CHECK (quantity > 0)
);
CREATE VIEW priced_books AS SELECT title, price FROM books WHERE price IS NOT NULL;
INSERT INTO authors (name, born, bio) VALUES
	('Zoë Ångström', '1970-01-01', E'multi\nline\twith a \\ backslash'),
	('東京太郎', NULL, '日本語のテキスト'),
	('Ελένη 🎉', '1985-05-05', 'an elephant 🐘, a quote '' and "doubles"');
INSERT INTO books (author_id, title, price, tags, meta, cover) VALUES
	(1, 'Première', 12.50, '{a,b}', '{"k": [1, 2, {"é": null}]}', '\xdeadbeef'),
	(2, '吾輩は猫である', 25.00, '{}', NULL, NULL),
	(3, 'Βιβλίο', NULL, '{"with space"}', '{}', '\x00ff');
INSERT INTO "order lines" (book_id, quantity) VALUES (1, 2), (2, 1), (3, 5);
SELECT setval('authors_id_seq', 40);
`

func (fx *backupFixture) seed() {
	fx.t.Helper()
	fx.cluster.psql(fx.t, "postgres", fmt.Sprintf("CREATE DATABASE %s", fx.db))
	fx.psql(backupSchema)
}

func testBackupRestoreFindsEveryRow(t *testing.T, fx *backupFixture) {
	fx.seed()
	want := fx.snapshot()
	name := fx.once()
	if r := fx.run("backup.sh", "health"); r.code != 0 || !strings.Contains(r.stdout, "healthy: the newest good dump, "+name) {
		t.Errorf("a fresh dump must be healthy:\n%s", r)
	}

	// Over a database that moved on since the dump, with a session still
	// connected: the restore must bring back exactly the dump, drop what
	// came later, and close the session.
	fx.psql(`
		INSERT INTO authors (name) VALUES ('written after the dump');
		UPDATE books SET title = 'changed' WHERE id = 1;
		DROP VIEW priced_books;
		DROP TABLE "order lines";
		CREATE TABLE added_later (id int);
		SELECT nextval('invoice_numbers');
	`)
	session := exec.Command(filepath.Join(fx.cluster.bin, "psql"), "-X", "-c", "SELECT pg_sleep(60)")
	session.Env = fx.cluster.env(fx.db)
	if err := session.Start(); err != nil {
		t.Fatal(err)
	}
	sessionDone := make(chan error, 1)
	go func() { sessionDone <- session.Wait() }()
	t.Cleanup(func() { session.Process.Kill() })
	backupEventually(t, "the session is connected", func() bool {
		return fx.cluster.psql(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND query LIKE '%%pg_sleep%%'", fx.db)) == "1\n"
	})

	r := fx.ok("restore.sh", name)
	if got := fx.snapshot(); got != want {
		t.Fatalf("after the restore the database differs from what was dumped: %s\n%s", firstDifference(want, got), r)
	}
	// The dump was taken from objects the superuser owned, as a stack of
	// the program's earlier versions has them: the restored database and
	// everything in it are the application role's.
	owner := fx.vars["BACKUP_DB_OWNER"]
	if got := fx.psql(`SELECT datdba::regrole FROM pg_database WHERE datname = current_database()`); got != owner+"\n" {
		t.Errorf("the restored database is owned by %q, not by %s", got, owner)
	}
	if got := fx.psql(`SELECT count(*) FILTER (WHERE relowner <> '` + owner + `'::regrole) || ' of ' || count(*) FROM pg_class
		WHERE oid >= 16384 AND relkind IN ('r', 'S', 'v', 'm', 'i')`); !strings.HasPrefix(got, "0 of ") || got == "0 of 0\n" {
		t.Errorf("relations of the restored database not owned by %s: %s", owner, got)
	}
	for _, line := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  public\.authors +3 rows$`),
		regexp.MustCompile(`(?m)^  public\."order lines" +3 rows$`),
		regexp.MustCompile(`(?m)^  3 table\(s\)$`),
		regexp.MustCompile(`closed 1 other session\(s\) of ` + fx.db),
	} {
		if !line.MatchString(r.stdout) {
			t.Errorf("restore.sh did not report %s:\n%s", line, r)
		}
	}
	select {
	case err := <-sessionDone:
		if err == nil {
			t.Error("the session connected during the restore was not closed")
		}
	case <-time.After(10 * time.Second):
		t.Error("the session connected during the restore is still running")
	}
	for _, db := range []string{fx.db + "_restoring", fx.db + "_replaced"} {
		if fx.cluster.databaseExists(t, db) {
			t.Errorf("the restore left the database %s behind", db)
		}
	}

	// Into a database that is gone.
	fx.cluster.psql(t, "postgres", fmt.Sprintf("DROP DATABASE %s", fx.db))
	fx.ok("restore.sh", strings.TrimSuffix(name, ".dump")) // the name without .dump works too
	if got := fx.snapshot(); got != want {
		t.Fatalf("after a restore into a dropped database it differs from what was dumped: %s", firstDifference(want, got))
	}

	// Beyond the text of a dump: the rows read back as written, sequences
	// go on where they were, the foreign key and the index are there.
	if got, want := fx.psql(`SELECT name || '|' || coalesce(bio, '-') FROM authors ORDER BY id`),
		"Zoë Ångström|multi\nline\twith a \\ backslash\n東京太郎|日本語のテキスト\nΕλένη 🎉|an elephant 🐘, a quote ' and \"doubles\"\n"; got != want {
		t.Errorf("authors after the restore:\n%q\nwant\n%q", got, want)
	}
	if got := fx.psql(`SELECT encode(cover, 'hex') FROM books WHERE id = 3`); got != "00ff\n" {
		t.Errorf("a bytea value came back as %q", got)
	}
	if got := fx.psql(`INSERT INTO authors (name) VALUES ('next') RETURNING id`); got != "41\n" {
		t.Errorf("the next author got id %q, want 41: the sequence was not restored", got)
	}
	if got := fx.psql(`SELECT nextval('invoice_numbers')`); got != "1003\n" {
		t.Errorf("nextval(invoice_numbers) = %q, want 1003", got)
	}
	if _, err := fx.cluster.client(fx.db, "INSERT INTO books (author_id, title) VALUES (999, 'orphan')", "psql", "-X", "-v", "ON_ERROR_STOP=1"); err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Errorf("a book of a missing author was accepted (%v): the foreign key was not restored", err)
	}
	if got := fx.psql(`SELECT indexdef FROM pg_indexes WHERE indexname = 'books_title_lower'`); !strings.Contains(got, "lower(title)") {
		t.Errorf("the expression index was not restored: %q", got)
	}
}

func testBackupCorruptDumpIsRefused(t *testing.T, fx *backupFixture) {
	fx.seed()
	name := fx.once()
	// The database moves on, so that a restore, had it happened, would show.
	fx.psql(`INSERT INTO authors (name) VALUES ('only in the database')`)
	want := fx.snapshot()

	path := filepath.Join(fx.dir, name)
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dump[len(dump)/2] ^= 0x01
	if err := os.WriteFile(path, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	r := fx.run("restore.sh", name)
	if r.code == 0 || !strings.Contains(r.stderr, "refusing "+name+": checksum mismatch") {
		t.Errorf("restore.sh must refuse a corrupted dump by its checksum:\n%s", r)
	}
	if got := fx.snapshot(); got != want {
		t.Errorf("refusing a corrupted dump changed the database: %s", firstDifference(want, got))
	}
	if r := fx.ok("backup.sh", "list"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* bad$`).MatchString(r.stdout) {
		t.Errorf("backup.sh list does not show %s as bad:\n%s", name, r)
	}

	if err := os.Remove(path + ".sha256"); err != nil {
		t.Fatal(err)
	}
	r = fx.run("restore.sh", name)
	if r.code == 0 || !strings.Contains(r.stderr, "refusing "+name+": no checksum file") {
		t.Errorf("restore.sh must refuse a dump without a checksum file:\n%s", r)
	}
	if r := fx.ok("backup.sh", "list"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* missing$`).MatchString(r.stdout) {
		t.Errorf("backup.sh list does not show %s's checksum as missing:\n%s", name, r)
	}
	if got := fx.snapshot(); got != want {
		t.Errorf("refusing a dump without a checksum changed the database: %s", firstDifference(want, got))
	}
}

// A dump whose checksum matches but which pg_restore cannot finish (cut
// short before it was summed): the database must stay as it was.
func testBackupFailedRestoreLeavesTheDatabase(t *testing.T, fx *backupFixture) {
	fx.seed()
	name := fx.once()
	fx.psql(`INSERT INTO authors (name) VALUES ('only in the database')`)
	want := fx.snapshot()

	dump, err := os.ReadFile(filepath.Join(fx.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	cut := backupPrefix + "-20000101T000000Z.dump"
	backupWriteDump(t, fx.dir, cut, dump[:len(dump)*2/3], backupGood, 0)
	r := fx.run("restore.sh", cut)
	if r.code != 1 || !strings.Contains(r.stderr, "pg_restore failed") || !strings.Contains(r.stderr, fx.db+" was not touched") {
		t.Errorf("restore.sh of a truncated dump must fail and say the database was not touched:\n%s", r)
	}
	if got := fx.snapshot(); got != want {
		t.Errorf("a failed restore changed the database: %s", firstDifference(want, got))
	}
	if fx.cluster.databaseExists(t, fx.db+"_restoring") {
		t.Errorf("a failed restore left %s_restoring behind", fx.db)
	}
}

type backupDumpState int

const (
	backupGood    backupDumpState = iota
	backupCorrupt                 // the checksum file does not match
	backupNoSum                   // no checksum file
)

// backupWriteDump writes a dump file and, unless state says otherwise, its
// checksum, both aged by age.
func backupWriteDump(t *testing.T, dir, name string, content []byte, state backupDumpState, age time.Duration) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(content)
	if state == backupCorrupt {
		h[0] ^= 0xff
	}
	if state != backupNoSum {
		line := hex.EncodeToString(h[:]) + "  " + name + "\n"
		if err := os.WriteFile(path+".sha256", []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	backupAge(t, age, path, path+".sha256")
}

// backupAge sets the files' modification times to age ago; missing files
// are skipped.
func backupAge(t *testing.T, age time.Duration, paths ...string) {
	t.Helper()
	when := time.Now().Add(-age)
	for _, p := range paths {
		if err := os.Chtimes(p, when, when); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// fakeDump writes a dump of random bytes named as if taken age ago.
func (fx *backupFixture) fakeDump(age time.Duration, state backupDumpState) string {
	fx.t.Helper()
	name := backupPrefix + "-" + time.Now().Add(-age).UTC().Format("20060102T150405Z") + ".dump"
	content := make([]byte, 4096)
	rand.Read(content)
	backupWriteDump(fx.t, fx.dir, name, content, state, age)
	return name
}

const backupDay = 24 * time.Hour

func testBackupPrune(t *testing.T, base *backupFixture) {
	// BACKUP_KEEP=3, BACKUP_MAX_AGE=1 day.
	t.Run("OldDumpsDownToTheKeptCount", func(t *testing.T) {
		fx := base.fresh(t)
		var names []string
		for age := 10; age >= 5; age-- {
			names = append(names, fx.fakeDump(time.Duration(age)*backupDay, backupGood))
		}
		r := fx.ok("backup.sh", "prune")
		backupExpectFiles(t, fx, backupWithSums(names[3:]...)...)
		for _, n := range names[:3] {
			if !strings.Contains(r.stdout, "pruned "+n) {
				t.Errorf("prune did not report %s:\n%s", n, r)
			}
		}
	})
	t.Run("YoungDumpsBeyondTheCount", func(t *testing.T) {
		fx := base.fresh(t)
		var names []string
		for hours := 6; hours >= 1; hours-- {
			names = append(names, fx.fakeDump(time.Duration(hours)*time.Hour, backupGood))
		}
		fx.ok("backup.sh", "prune")
		backupExpectFiles(t, fx, backupWithSums(names...)...)
	})
	t.Run("OnlyGoodDumpsCount", func(t *testing.T) {
		fx := base.fresh(t)
		youngBad := fx.fakeDump(time.Hour, backupCorrupt)
		oldBad := fx.fakeDump(2*backupDay, backupNoSum)
		kept3 := fx.fakeDump(3*backupDay, backupGood)
		kept4 := fx.fakeDump(4*backupDay, backupGood)
		kept5 := fx.fakeDump(5*backupDay, backupGood)
		gone6 := fx.fakeDump(6*backupDay, backupGood)
		// Leftovers: checksum files without a dump, partial dumps of a
		// killed run; and what is not ours: another stack's dumps, whose
		// prefix starts like ours, and any other file.
		orphan := func(age time.Duration) string {
			name := fx.fakeDump(age, backupGood)
			os.Remove(filepath.Join(fx.dir, name))
			return name + ".sha256"
		}
		youngOrphan, oldOrphan := orphan(90*time.Minute), orphan(7*backupDay)
		partial := func(age time.Duration) string {
			name := "." + backupPrefix + "-" + time.Now().Add(-age).UTC().Format("20060102T150405Z") + ".dump.partial"
			path := filepath.Join(fx.dir, name)
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path, "x.dump"), []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
			backupAge(t, age, path)
			return name
		}
		youngPartial, oldPartial := partial(time.Minute), partial(2*backupDay)
		var foreign []string
		for _, name := range []string{backupPrefix + "-2-20200101T000000Z.dump", "other-20200101T000000Z.dump", "notes.txt"} {
			backupWriteDump(t, fx.dir, name, []byte("not ours"), backupNoSum, 100*backupDay)
			foreign = append(foreign, name)
		}

		r := fx.ok("backup.sh", "prune")
		backupExpectFiles(t, fx, append(backupWithSums(youngBad, kept3, kept4, kept5), append(foreign, youngOrphan, youngPartial)...)...)
		for _, n := range []string{oldBad, gone6, oldOrphan, oldPartial} {
			if !strings.Contains(r.stdout, "pruned ") || !strings.Contains(r.stdout, n) {
				t.Errorf("prune did not report %s:\n%s", n, r)
			}
		}
		if !strings.Contains(r.stderr, youngBad+" is not a good dump: checksum mismatch") {
			t.Errorf("prune did not warn about the corrupted dump it keeps:\n%s", r)
		}
	})
	t.Run("NeverBelowTheCount", func(t *testing.T) {
		fx := base.fresh(t)
		var names []string
		for age := 400; age >= 398; age-- {
			names = append(names, fx.fakeDump(time.Duration(age)*backupDay, backupGood))
		}
		fx.ok("backup.sh", "prune")
		backupExpectFiles(t, fx, backupWithSums(names...)...)
	})
}

// backupExpectFiles checks that the backup directory holds exactly these
// files.
func backupExpectFiles(t *testing.T, fx *backupFixture, names ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]bool{}
	for _, f := range fx.files() {
		got[f] = true
		if !want[f] {
			t.Errorf("%s was kept, it should be pruned", f)
		}
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("%s was pruned, it should be kept", n)
		}
	}
}

// backupWithSums are dump names and their checksum files' names.
func backupWithSums(dumps ...string) []string {
	var names []string
	for _, d := range dumps {
		names = append(names, d, d+".sha256")
	}
	return names
}

func testBackupHealth(t *testing.T, base *backupFixture) {
	// BACKUP_INTERVAL=3600: healthy while the newest good dump is younger
	// than 2 hours.
	health := func(t *testing.T, fx *backupFixture, wantCode int, wantOut string) {
		t.Helper()
		r := fx.run("backup.sh", "health")
		if r.code != wantCode || !strings.Contains(r.stdout+r.stderr, wantOut) {
			t.Errorf("want exit %d and %q:\n%s", wantCode, wantOut, r)
		}
		if lines := strings.Count(strings.TrimSpace(r.stdout+r.stderr), "\n") + 1; lines != 1 {
			t.Errorf("health must say one line, said %d:\n%s", lines, r)
		}
	}
	t.Run("NoDump", func(t *testing.T) {
		health(t, base.fresh(t), 1, "unhealthy: no dump in ")
	})
	t.Run("Fresh", func(t *testing.T) {
		fx := base.fresh(t)
		name := fx.fakeDump(119*time.Minute, backupGood)
		health(t, fx, 0, "healthy: the newest good dump, "+name+", is 1h59m old (limit 2h00m)")
	})
	t.Run("Stale", func(t *testing.T) {
		fx := base.fresh(t)
		fx.fakeDump(3*time.Hour, backupGood)
		name := fx.fakeDump(2*time.Hour+time.Minute, backupGood)
		health(t, fx, 1, "unhealthy: no dump younger than 2h00m, twice the interval; the newest, "+name+", is 2h01m old")
	})
	t.Run("OnlyCorrupt", func(t *testing.T) {
		// Young dumps that do not verify, and a good one that is too old.
		fx := base.fresh(t)
		fx.fakeDump(3*time.Hour, backupGood)
		fx.fakeDump(2*time.Minute, backupNoSum)
		bad := fx.fakeDump(time.Minute, backupCorrupt)
		health(t, fx, 1, "unhealthy: no good dump younger than 2h00m; the newest is bad ("+bad+": checksum mismatch")
	})
	t.Run("CorruptNewestGoodOlder", func(t *testing.T) {
		fx := base.fresh(t)
		good := fx.fakeDump(time.Hour, backupGood)
		fx.fakeDump(time.Minute, backupCorrupt)
		fx.fakeDump(2*time.Minute, backupNoSum)
		health(t, fx, 0, "healthy: the newest good dump, "+good+", is 1h00m old")
	})
	t.Run("Misconfigured", func(t *testing.T) {
		// Docker reserves exit status 2 of a healthcheck: 1 here too.
		fx := base.fresh(t)
		r := fx.runWith(fx.with("BACKUP_INTERVAL", ""), "backup.sh", "health")
		if r.code != 1 || !strings.Contains(r.stderr, "BACKUP_INTERVAL is not set") {
			t.Errorf("health without BACKUP_INTERVAL must exit 1 naming it:\n%s", r)
		}
	})
}

// backupLoop is `backup.sh loop` running in the background, with its
// standard output and error kept apart.
type backupLoop struct {
	srv            *server
	stdout, stderr *lockedBuffer
}

func (fx *backupFixture) startLoop(vars map[string]string) *backupLoop {
	fx.t.Helper()
	l := &backupLoop{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	cmd := fx.command(context.Background(), vars, "backup.sh", "loop")
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	// The loop's children (pg_dump, sleep) hold its output open.
	cmd.WaitDelay = 5 * time.Second
	// Registered before the server's stop, so it runs after it.
	fx.t.Cleanup(func() { fx.printed.WriteString(l.stdout.String() + l.stderr.String()) })
	// A failed test kills the loop's process group (startServer gives it
	// its own): the loop and its children.
	srv, err := startServer(fx.t, "backup.sh loop", cmd, syscall.SIGKILL)
	if err != nil {
		fx.t.Fatal(err)
	}
	l.srv = srv
	return l
}

// stop sends SIGTERM, as docker stop does, and checks that the loop ends
// at once with 143, the status of a process ended by SIGTERM.
func (l *backupLoop) stop(t *testing.T) {
	t.Helper()
	if l.srv.exited() {
		t.Fatalf("the loop ended by itself: %v\nstdout:\n%s\nstderr:\n%s", l.srv.err, l.stdout, l.stderr)
	}
	l.srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.srv.done:
	case <-time.After(3 * time.Second):
		t.Fatalf("the loop did not stop within 3s of SIGTERM:\n%s", l.stdout)
	}
	var exit *exec.ExitError
	if !errors.As(l.srv.err, &exit) || exit.ExitCode() != 143 {
		t.Errorf("the loop ended with %v on SIGTERM, want exit status 143", l.srv.err)
	}
	if !strings.HasSuffix(l.stdout.String(), "backup: stopped\n") {
		t.Errorf("the loop did not say it stopped:\n%s", l.stdout)
	}
}

func (fx *backupFixture) dumps() []string {
	var dumps []string
	for _, f := range fx.files() {
		if backupDumpName.MatchString(f) {
			dumps = append(dumps, f)
		}
	}
	return dumps
}

func (fx *backupFixture) expectNoPartial() {
	fx.t.Helper()
	for _, f := range fx.files() {
		if strings.HasSuffix(f, ".partial") {
			fx.t.Errorf("a partial dump was left behind: %s", f)
		}
	}
}

func testBackupLoop(t *testing.T, fx *backupFixture) {
	fx.seed()
	t.Run("DumpsEveryInterval", func(t *testing.T) {
		loop := fx.startLoop(fx.with("BACKUP_INTERVAL", "1"))
		backupEventually(t, "two dumps", func() bool { return strings.Count(loop.stdout.String(), " backup: dumped ") >= 2 })
		loop.stop(t)
		dumps := fx.dumps()
		if lines := strings.Count(loop.stdout.String(), " backup: dumped "); lines != len(dumps) {
			t.Errorf("%d dumps, %d lines saying so:\n%s", len(dumps), lines, loop.stdout)
		}
		for _, d := range dumps {
			if !strings.Contains(loop.stdout.String(), "dumped "+d) {
				t.Errorf("the loop did not report %s:\n%s", d, loop.stdout)
			}
		}
		fx.expectNoPartial()
		if r := fx.ok("backup.sh", "list"); strings.Count(r.stdout, " ok\n") != len(dumps) {
			t.Errorf("backup.sh list does not show the %d dumps as good:\n%s", len(dumps), r)
		}
	})
	t.Run("KeepsTheScheduleAcrossARestart", func(t *testing.T) {
		before := fx.dumps()
		loop := fx.startLoop(fx.vars) // a dump an hour; the newest is seconds old
		backupEventually(t, "the loop to start", func() bool { return strings.Contains(loop.stdout.String(), "next dump in ") })
		time.Sleep(500 * time.Millisecond)
		loop.stop(t)
		if after := fx.dumps(); len(after) != len(before) {
			t.Errorf("a restart dumped again although the last dump is recent: %v, was %v", after, before)
		}
	})
	t.Run("FailedDumpsDoNotEndIt", func(t *testing.T) {
		before := fx.dumps()
		loop := fx.startLoop(fx.with("BACKUP_INTERVAL", "1", "PGDATABASE", "no_such_database"))
		backupEventually(t, "two failed dumps", func() bool {
			return strings.Count(loop.stderr.String(), "backup: dump failed: pg_dump exited with status 1; next try in 1s") >= 2
		})
		loop.stop(t)
		if after := fx.dumps(); len(after) != len(before) {
			t.Errorf("failed dumps left dumps behind: %v, was %v", after, before)
		}
		fx.expectNoPartial()
	})
}

// backupEventually waits up to 20 s for cond.
func backupEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
	}
}

func testBackupConfiguration(t *testing.T, fx *backupFixture) {
	for _, tc := range []struct {
		script  string
		args    []string
		missing []string
	}{
		{"backup.sh", []string{"once"}, []string{"PGHOST", "PGUSER", "PGDATABASE", "PGPASSWORD_FILE", "BACKUP_PREFIX", "BACKUP_KEEP", "BACKUP_MAX_AGE"}},
		{"backup.sh", []string{"loop"}, []string{"PGHOST", "BACKUP_INTERVAL", "BACKUP_KEEP"}},
		{"backup.sh", []string{"prune"}, []string{"BACKUP_PREFIX", "BACKUP_KEEP", "BACKUP_MAX_AGE"}},
		{"backup.sh", []string{"list"}, []string{"BACKUP_PREFIX"}},
		{"restore.sh", []string{"x.dump"}, []string{"PGHOST", "PGUSER", "PGDATABASE", "PGPASSWORD_FILE", "BACKUP_DB_OWNER"}},
	} {
		for _, v := range tc.missing {
			r := fx.runWith(fx.with(v, ""), tc.script, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, v+" is not set") {
				t.Errorf("without %s, %s must exit 2 naming it:\n%s", v, r.command, r)
			}
		}
	}
	for _, tc := range []struct{ name, value, message string }{
		{"BACKUP_KEEP", "0", "BACKUP_KEEP must be a whole number of at least 1, not '0'"},
		{"BACKUP_KEEP", "three", "BACKUP_KEEP must be a whole number"},
		{"BACKUP_MAX_AGE", "7d", "BACKUP_MAX_AGE must be a whole number"},
		{"BACKUP_MAX_AGE", "010", "BACKUP_MAX_AGE must be a whole number"},
		{"BACKUP_PREFIX", "my stack", "BACKUP_PREFIX must be letters"},
		{"BACKUP_PREFIX", "../up", "BACKUP_PREFIX must be letters"},
		{"PGPASSWORD_FILE", "/nonexistent/password", "PGPASSWORD_FILE: cannot read /nonexistent/password"},
		{"PGPASSWORD_FILE", "/dev/null", "PGPASSWORD_FILE: /dev/null is empty"},
	} {
		r := fx.runWith(fx.with(tc.name, tc.value), "backup.sh", "once")
		if r.code != 2 || !strings.Contains(r.stderr, tc.message) {
			t.Errorf("with %s=%s, backup.sh once must exit 2 saying %q:\n%s", tc.name, tc.value, tc.message, r)
		}
	}
	if len(fx.files()) != 0 {
		t.Errorf("refused runs wrote into the backup directory: %v", fx.files())
	}
	for _, args := range [][]string{nil, {"backup"}, {"once", "extra"}} {
		if r := fx.run("backup.sh", args...); r.code != 2 || !strings.Contains(r.stderr, "backup: ") {
			t.Errorf("backup.sh %v must exit 2 with usage:\n%s", args, r)
		}
	}
	for _, args := range [][]string{nil, {"a.dump", "b.dump"}, {"../etc/passwd"}} {
		if r := fx.run("restore.sh", args...); r.code != 2 || !strings.Contains(r.stderr, "restore: ") {
			t.Errorf("restore.sh %v must exit 2:\n%s", args, r)
		}
	}
	if r := fx.run("restore.sh", "nothing-here.dump"); r.code != 1 || !strings.Contains(r.stderr, "no dump nothing-here.dump in "+fx.dir) {
		t.Errorf("restore.sh of a missing dump must exit 1 naming it:\n%s", r)
	}
	// PGPORT may be left out: libpq's default.
	if r := fx.runWith(fx.with("PGPORT", "", "PGDATABASE", "no_such_database"), "backup.sh", "once"); !strings.Contains(r.stderr, "port 5432") {
		t.Errorf("without PGPORT the dump must go to libpq's port 5432:\n%s", r)
	}
}

// The dump being restored is pinned (backupctl restore pins it): the safety
// dump's prune, which runs right after it dumps, must not take it however
// old it is and however many dumps are newer.
func testBackupPin(t *testing.T, base *backupFixture) {
	// BACKUP_KEEP=3, BACKUP_MAX_AGE=1 day.
	fx := base.fresh(t)
	fx.seed()
	var old []string
	for age := 10; age >= 5; age-- {
		old = append(old, fx.fakeDump(time.Duration(age)*backupDay, backupGood))
	}
	restoring := old[0] // beyond the kept count and the age limit
	pin := "." + restoring + ".pin"
	if r := fx.ok("backup.sh", "pin", restoring); !strings.Contains(r.stdout, "pinned "+restoring) {
		t.Errorf("pin does not say so:\n%s", r)
	}
	safety := fx.once()
	backupExpectFiles(t, fx, append(backupWithSums(safety, old[5], old[4], restoring), pin)...)
	r := fx.ok("backup.sh", "prune")
	if !strings.Contains(r.stdout, "keeping "+restoring+" (10d00h old): it is pinned") {
		t.Errorf("prune does not say why it keeps %s:\n%s", restoring, r)
	}

	// Unpinned, it goes as any other.
	fx.ok("backup.sh", "unpin", restoring)
	fx.ok("backup.sh", "unpin", restoring) // twice is fine
	fx.ok("backup.sh", "prune")
	backupExpectFiles(t, fx, backupWithSums(safety, old[5], old[4])...)

	// A pin a killed restore left behind holds for a day, no longer.
	stale := fx.fakeDump(20*backupDay, backupGood)
	fx.ok("backup.sh", "pin", stale)
	backupAge(t, 23*time.Hour, filepath.Join(fx.dir, "."+stale+".pin"))
	fx.ok("backup.sh", "prune")
	backupExpectFiles(t, fx, append(backupWithSums(safety, old[5], old[4], stale), "."+stale+".pin")...)
	backupAge(t, 25*time.Hour, filepath.Join(fx.dir, "."+stale+".pin"))
	r = fx.ok("backup.sh", "prune")
	backupExpectFiles(t, fx, backupWithSums(safety, old[5], old[4])...)
	if !strings.Contains(r.stderr, "ignoring the pin of "+stale+": it is 1d01h old") {
		t.Errorf("prune does not say it ignores the stale pin:\n%s", r)
	}

	// A pin whose dump is gone is a leftover, pruned after BACKUP_MAX_AGE.
	orphan := "." + backupPrefix + "-20200101T000000Z.dump.pin"
	if err := os.WriteFile(filepath.Join(fx.dir, orphan), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	backupAge(t, 2*backupDay, filepath.Join(fx.dir, orphan))
	fx.ok("backup.sh", "prune")
	backupExpectFiles(t, fx, backupWithSums(safety, old[5], old[4])...)

	if r := fx.run("backup.sh", "pin", backupPrefix+"-20000101T000000Z.dump"); r.code != 1 || !strings.Contains(r.stderr, "there is no such dump") {
		t.Errorf("pinning a dump that is not there:\n%s", r)
	}
	for _, args := range [][]string{{"pin"}, {"pin", "../" + safety}, {"pin", "notes.txt"}, {"unpin"}, {"pin", safety, safety}} {
		if r := fx.run("backup.sh", args...); r.code != 2 {
			t.Errorf("backup.sh %v must exit 2:\n%s", args, r)
		}
	}
}

// A restore interrupted while pg_restore runs (backupctl sends SIGTERM when
// it is interrupted) stops at once and leaves the database as it was.
func testBackupInterruptedRestore(t *testing.T, fx *backupFixture) {
	fx.seed()
	name := fx.once()
	fx.psql(`INSERT INTO authors (name) VALUES ('only in the database')`)
	want := fx.snapshot()

	// pg_restore restores, then takes its time: the signal comes while
	// it runs, with the new database made and filled.
	bin := t.TempDir()
	restoring := filepath.Join(bin, "restoring")
	standIn := "#!/bin/sh\n" + filepath.Join(fx.cluster.bin, "pg_restore") + " \"$@\" || exit\n: >" + restoring + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_restore"), []byte(standIn), 0o755); err != nil {
		t.Fatal(err)
	}
	fx.shell.path = bin + ":" + fx.shell.path
	var stdout, stderr lockedBuffer
	cmd := fx.command(context.Background(), fx.vars, "restore.sh", name)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	srv, err := startServer(t, "restore.sh", cmd, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	backupEventually(t, "pg_restore to fill "+fx.db+"_restoring", func() bool {
		_, err := os.Stat(restoring)
		return err == nil
	})
	if !fx.cluster.databaseExists(t, fx.db+"_restoring") {
		t.Fatalf("no %s_restoring while pg_restore runs:\n%s%s", fx.db, &stdout, &stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("restore.sh did not end within 10s of SIGTERM:\n%s%s", &stdout, &stderr)
	}
	fx.printed.WriteString(stdout.String() + stderr.String())
	var exit *exec.ExitError
	if !errors.As(srv.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("restore.sh ended with %v on SIGTERM, want exit status 1", srv.err)
	}
	if !strings.Contains(stderr.String(), "interrupted; "+fx.db+" was not touched") {
		t.Errorf("restore.sh does not say it was interrupted:\n%s%s", &stdout, &stderr)
	}
	if got := fx.snapshot(); got != want {
		t.Errorf("an interrupted restore changed the database: %s", firstDifference(want, got))
	}
	if fx.cluster.databaseExists(t, fx.db+"_restoring") {
		t.Errorf("an interrupted restore left %s_restoring behind", fx.db)
	}
}
