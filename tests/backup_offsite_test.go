//go:build linux

package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeAWS is a stand-in for the aws command on PATH: `s3 ls` lists what
// `s3 cp` copied into a directory (or what a test put there), `s3 cp` from
// an s3:// URL downloads from it, and every call is logged in order.
const fakeAWS = `#!/bin/sh
store=$FAKE_S3_DIR
echo "$*" >>"$store/calls"
echo "${AWS_SECRET_ACCESS_KEY:-}" >>"$store/keys"
[ "$1" = s3 ] || exit 252
case $2 in
ls)
	[ -n "${FAKE_S3_FAIL:-}" ] && { echo "An error occurred (AccessDenied)" >&2; exit 254; }
	found=1
	for f in "$store"/objects/*; do
		[ -f "$f" ] || continue
		found=0
		echo "2026-11-26 10:00:00       4096 $(basename "$f")"
	done
	exit $found ;;
cp)
	[ "$3" = --only-show-errors ] && shift
	case $3 in
	s3://*) cp "$store/objects/${3##*/}" "$4" ;;
	*) cp "$3" "$store/objects/${4##*/}" ;;
	esac ;;
*) exit 252 ;;
esac
`

// withFakeAWS puts fakeAWS first on the fixture's PATH and returns its
// store: the bucket's objects are in store/objects.
func (fx *backupFixture) withFakeAWS() string {
	fx.t.Helper()
	bin, store := fx.t.TempDir(), fx.t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		fx.t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(store, "objects"), 0o755); err != nil {
		fx.t.Fatal(err)
	}
	fx.shell.path = bin + ":" + fx.shell.path
	return store
}

// awsCalls are the calls fakeAWS logged that start with prefix.
func awsCalls(store, prefix string) []string {
	b, _ := os.ReadFile(filepath.Join(store, "calls"))
	var calls []string
	for _, c := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if c != "" && strings.HasPrefix(c, prefix) {
			calls = append(calls, c)
		}
	}
	return calls
}

func testBackupOffsite(t *testing.T, base *backupFixture) {
	fx := base.fresh(t)
	store := fx.withFakeAWS()
	// The program hands the storage key over as a file, which the aws
	// command cannot read: the script exports it.
	keyFile := filepath.Join(t.TempDir(), "aws_secret_access_key")
	if err := os.WriteFile(keyFile, []byte("s3cret-from-file"), 0o444); err != nil {
		t.Fatal(err)
	}
	vars := fx.with("OFFSITE_URL", "s3://backups/django-stack/", "FAKE_S3_DIR", store, "AWS_SECRET_ACCESS_KEY_FILE", keyFile)
	calls := func() []string {
		b, _ := os.ReadFile(filepath.Join(store, "calls"))
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}

	older := fx.fakeDump(7*time.Hour, backupGood)
	newer := fx.fakeDump(time.Hour, backupGood)
	corrupt := fx.fakeDump(30*time.Minute, backupCorrupt)
	fx.fakeDump(20*time.Minute, backupNoSum)

	r := fx.runWith(vars, "offsite.sh", "sync")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	var copies []string
	for _, c := range calls() {
		if strings.HasPrefix(c, "s3 cp") {
			f := strings.Fields(c)
			copies = append(copies, f[len(f)-2]+" -> "+f[len(f)-1])
		}
	}
	want := []string{
		newer + " -> s3://backups/django-stack/" + newer,
		newer + ".sha256 -> s3://backups/django-stack/" + newer + ".sha256",
		older + " -> s3://backups/django-stack/" + older,
		older + ".sha256 -> s3://backups/django-stack/" + older + ".sha256",
	}
	if !slices.Equal(copies, want) {
		t.Errorf("copies, in order:\n%s\nwant (good dumps only, each dump before its checksum):\n%s", strings.Join(copies, "\n"), strings.Join(want, "\n"))
	}
	if keys, _ := os.ReadFile(filepath.Join(store, "keys")); !strings.HasPrefix(string(keys), "s3cret-from-file\n") {
		t.Errorf("the aws command saw the key %q, want the one in AWS_SECRET_ACCESS_KEY_FILE", keys)
	}
	if !strings.Contains(r.stderr, "not copying "+corrupt+": checksum mismatch") {
		t.Errorf("the corrupt dump is not reported:\n%s", r)
	}

	// What is there is not copied again.
	before := len(calls())
	r = fx.runWith(vars, "offsite.sh", "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing new to copy") {
		t.Errorf("a second sync: %s", r)
	}
	for _, c := range calls()[before:] {
		if strings.HasPrefix(c, "s3 cp") {
			t.Errorf("a second sync copies again: %s", c)
		}
	}

	// Storage that refuses the listing fails the sync, and copies nothing.
	r = fx.runWith(fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store, "FAKE_S3_FAIL", "1"), "offsite.sh", "sync")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot list s3://backups/django-stack/") {
		t.Errorf("a refused listing: %s", r)
	}
	missing := fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store, "AWS_SECRET_ACCESS_KEY_FILE", keyFile+".gone")
	if r := fx.runWith(missing, "offsite.sh", "sync"); r.code != 2 || !strings.Contains(r.stderr, "AWS_SECRET_ACCESS_KEY_FILE: cannot read") {
		t.Errorf("a key file that is not there: %s", r)
	}
	if r := fx.runWith(fx.with("OFFSITE_URL", "https://bucket"), "offsite.sh", "sync"); r.code != 2 || !strings.Contains(r.stderr, "OFFSITE_URL must be s3://bucket/prefix") {
		t.Errorf("a bad OFFSITE_URL: %s", r)
	}
}

// object puts a file into fakeAWS's bucket.
func object(t *testing.T, store, name string, content []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(store, "objects", name), content, 0o600); err != nil {
		t.Fatal(err)
	}
}

func testBackupOffsiteListAndFetch(t *testing.T, base *backupFixture) {
	fx := base.fresh(t)
	store := fx.withFakeAWS()
	vars := fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store)

	// What a lost server had copied: two dumps of ours, one of a stack of
	// another name, one copy cut short before its checksum, and a dump
	// whose copy went bad.
	older := fx.fakeDump(7*time.Hour, backupGood)
	newer := fx.fakeDump(time.Hour, backupGood)
	bad := fx.fakeDump(2*time.Hour, backupGood)
	if r := fx.runWith(vars, "offsite.sh", "sync"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	object(t, store, bad, []byte("not what was dumped"))
	other := "django-stack-old-20000101T000000Z.dump"
	content := []byte("another stack's dump")
	h := sha256.Sum256(content)
	object(t, store, other, content)
	object(t, store, other+".sha256", []byte(hex.EncodeToString(h[:])+"  "+other+"\n"))
	cut := backupPrefix + "-20261201T000000Z.dump"
	object(t, store, cut, []byte("half"))
	for _, f := range fx.files() {
		os.Remove(filepath.Join(fx.dir, f))
	}

	r := fx.runWith(vars, "offsite.sh", "list")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		listed = append(listed, strings.Fields(line)[0])
	}
	if want := []string{newer, bad, older, other}; !slices.Equal(listed, want) {
		t.Errorf("offsite.sh list shows %v, want the complete copies newest first %v:\n%s", listed, want, r)
	}
	if !strings.Contains(r.stdout, "4.0K  2026-11-26 10:00:00") {
		t.Errorf("offsite.sh list does not show the size and time of a copy:\n%s", r)
	}
	if !strings.Contains(r.stderr, cut+" has no checksum there") {
		t.Errorf("offsite.sh list does not name the copy without its checksum:\n%s", r)
	}

	r = fx.runWith(vars, "offsite.sh", "fetch", newer)
	if r.code != 0 || !strings.Contains(r.stdout, "fetched "+newer+" (4.0K) from s3://backups/django-stack/ into "+fx.dir+", checksum ok") {
		t.Fatalf("fetch: %s", r)
	}
	backupExpectFiles(t, fx, backupWithSums(newer)...)
	for _, f := range backupWithSums(newer) {
		if info, err := os.Stat(filepath.Join(fx.dir, f)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v: a dump holds every row, only its owner may read it", f, err, info.Mode().Perm())
		}
	}
	if r := fx.ok("backup.sh", "list"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(newer) + ` .* ok$`).MatchString(r.stdout) {
		t.Errorf("backup.sh list does not show the fetched dump as good:\n%s", r)
	}
	if r := fx.runWith(vars, "offsite.sh", "fetch", newer); r.code != 0 || !strings.Contains(r.stdout, newer+" is here already, and matches its checksum") {
		t.Errorf("fetching a dump that is here: %s", r)
	}
	if r := fx.runWith(vars, "offsite.sh", "fetch", other); r.code != 0 {
		t.Errorf("fetching another stack's dump: %s", r)
	}

	// What does not match its checksum is not kept, nor what is not there.
	if r := fx.runWith(vars, "offsite.sh", "fetch", bad); r.code != 1 || !strings.Contains(r.stderr, "the download of "+bad+" does not match its checksum (checksum mismatch") {
		t.Errorf("fetching a bad copy: %s", r)
	}
	if r := fx.runWith(vars, "offsite.sh", "fetch", cut); r.code != 1 || !strings.Contains(r.stderr, "cannot download s3://backups/django-stack/"+cut+".sha256") {
		t.Errorf("fetching a copy without its checksum: %s", r)
	}
	backupExpectFiles(t, fx, backupWithSums(newer, other)...)

	// A local dump is never overwritten, even a bad one.
	if err := os.WriteFile(filepath.Join(fx.dir, older), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := fx.runWith(vars, "offsite.sh", "fetch", older); r.code != 1 || !strings.Contains(r.stderr, older+" is here already, and is not good (no checksum file") {
		t.Errorf("fetching over a local dump: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(fx.dir, older)); string(b) != "damaged" {
		t.Errorf("fetch overwrote a local dump")
	}
	for _, args := range [][]string{{"fetch"}, {"fetch", "../" + newer}, {"fetch", "x.dump"}, {"list", "extra"}} {
		if r := fx.runWith(vars, "offsite.sh", args...); r.code != 2 {
			t.Errorf("offsite.sh %v must exit 2: %s", args, r)
		}
	}
	if r := fx.runWith(fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store, "FAKE_S3_FAIL", "1"), "offsite.sh", "list"); r.code != 1 || !strings.Contains(r.stderr, "cannot list s3://backups/django-stack/") {
		t.Errorf("a refused listing: %s", r)
	}
}

// A server lost with its volumes: the dump copied off the host comes back
// into an empty backups directory and restores into an empty database.
func testBackupOffsiteDisasterRecovery(t *testing.T, fx *backupFixture) {
	store := fx.withFakeAWS()
	vars := fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store)
	fx.seed()
	want := fx.snapshot()
	name := fx.once()
	if r := fx.runWith(vars, "offsite.sh", "sync"); r.code != 0 {
		t.Fatalf("%s", r)
	}

	// The new server: an empty database, an empty backups directory.
	for _, f := range fx.files() {
		os.Remove(filepath.Join(fx.dir, f))
	}
	fx.cluster.psql(t, "postgres", fmt.Sprintf("DROP DATABASE %s", fx.db))
	fx.cluster.psql(t, "postgres", fmt.Sprintf("CREATE DATABASE %s", fx.db))

	if r := fx.runWith(vars, "offsite.sh", "list"); r.code != 0 || !strings.Contains(r.stdout, name) {
		t.Fatalf("the copy is not listed: %s", r)
	}
	if r := fx.runWith(vars, "offsite.sh", "fetch", name); r.code != 0 {
		t.Fatalf("%s", r)
	}
	fx.ok("restore.sh", name)
	if got := fx.snapshot(); got != want {
		t.Errorf("after the recovery the database differs from what was dumped: %s", firstDifference(want, got))
	}
}

// offsite.sh loop looks into the backups directory every OFFSITE_POLL
// seconds and copies a new dump at once, without listing the bucket while
// nothing is new; the bucket is listed every OFFSITE_INTERVAL anyway.
func testBackupOffsiteLoop(t *testing.T, fx *backupFixture) {
	store := fx.withFakeAWS()
	start := func(vars map[string]string) (*server, *lockedBuffer) {
		t.Helper()
		out := &lockedBuffer{}
		cmd := fx.command(context.Background(), vars, "offsite.sh", "loop")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = 5 * time.Second
		t.Cleanup(func() { fx.printed.WriteString(out.String()) })
		srv, err := startServer(t, "offsite.sh loop", cmd, syscall.SIGKILL)
		if err != nil {
			t.Fatal(err)
		}
		return srv, out
	}
	stop := func(srv *server, out *lockedBuffer) {
		t.Helper()
		srv.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-srv.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the loop did not stop within 5s of SIGTERM:\n%s", out)
		}
		var exit *exec.ExitError
		if !errors.As(srv.err, &exit) || exit.ExitCode() != 143 || !strings.HasSuffix(out.String(), "offsite: stopped\n") {
			t.Errorf("the loop ended with %v on SIGTERM, want exit status 143 and a word:\n%s", srv.err, out)
		}
	}
	listings := func() int { return len(awsCalls(store, "s3 ls")) }

	// An hour between syncs, a look every second.
	srv, out := start(fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store, "OFFSITE_INTERVAL", "3600", "OFFSITE_POLL", "1"))
	backupEventually(t, "the first sync", func() bool { return strings.Contains(out.String(), "nothing new to copy") })
	time.Sleep(2500 * time.Millisecond)
	if n := listings(); n != 1 {
		t.Errorf("the bucket was listed %d times with nothing new, want once (at start):\n%s", n, strings.Join(awsCalls(store, ""), "\n"))
	}

	// A dump being published (its checksum comes last) is not copied yet.
	name := backupPrefix + "-" + time.Now().UTC().Format("20060102T150405Z") + ".dump"
	content := []byte("a dump written after the loop started")
	backupWriteDump(t, fx.dir, name, content, backupNoSum, 0)
	time.Sleep(2500 * time.Millisecond)
	if n := listings(); n != 1 {
		t.Errorf("a dump without its checksum yet made the loop list the bucket:\n%s", strings.Join(awsCalls(store, ""), "\n"))
	}
	written := time.Now()
	backupWriteDump(t, fx.dir, name, content, backupGood, 0)
	backupEventually(t, "the new dump's copy", func() bool {
		_, err := os.Stat(filepath.Join(store, "objects", name+".sha256"))
		return err == nil
	})
	if lag := time.Since(written); lag > 5*time.Second {
		t.Errorf("the copy came %v after the dump, want within the 1s poll", lag)
	}
	if n := listings(); n != 2 {
		t.Errorf("the bucket was listed %d times, want twice (at start, for the new dump)", n)
	}
	time.Sleep(2500 * time.Millisecond)
	if n := listings(); n != 2 {
		t.Errorf("the loop listed the bucket again with nothing new:\n%s", strings.Join(awsCalls(store, ""), "\n"))
	}
	stop(srv, out)

	// Every OFFSITE_INTERVAL the bucket is listed even with nothing new:
	// that is when a failed copy is tried again.
	before := listings()
	srv, out = start(fx.with("OFFSITE_URL", "s3://backups/django-stack", "FAKE_S3_DIR", store, "OFFSITE_INTERVAL", "1", "OFFSITE_POLL", "1"))
	backupEventually(t, "three syncs", func() bool { return listings() >= before+3 })
	stop(srv, out)

	for _, v := range []string{"0", "30s"} {
		if r := fx.runWith(fx.with("OFFSITE_URL", "s3://backups/django-stack", "OFFSITE_INTERVAL", "900", "OFFSITE_POLL", v), "offsite.sh", "loop"); r.code != 2 || !strings.Contains(r.stderr, "OFFSITE_POLL must be a whole number") {
			t.Errorf("OFFSITE_POLL=%s: %s", v, r)
		}
	}
}
