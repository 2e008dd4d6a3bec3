//go:build linux

package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeAWS is a stand-in for the aws command on PATH: `s3 ls` lists what
// `s3 cp` copied into a directory, and every call is logged in order.
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
	cp "$3" "$store/objects/${4##*/}" ;;
*) exit 252 ;;
esac
`

func testBackupOffsite(t *testing.T, base *backupFixture) {
	fx := base.fresh(t)
	bin, store := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(store, "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	fx.shell.path = bin + ":" + fx.shell.path
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
