package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The script a job's entrypoint starts with, run by a real sh: the job's
// command reads its secrets at their usual paths, and the staged copies,
// which the stopped container would keep, are empty by then.
func TestAJobsSecretFilesAreMovedIntoItsTmpfsBeforeItsCommand(t *testing.T) {
	staged, dir := t.TempDir(), t.TempDir()
	secrets := map[string]string{"db_password": "s3cret-db", "secret_key": "django-insecure-key\nwith a newline"}
	for name, value := range secrets {
		if err := os.WriteFile(filepath.Join(staged, name), []byte(value), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	// The job's command, as the script's arguments: it prints what it reads.
	out, err := exec.Command("sh", "-c", jobSecretsScript(staged, dir), "job-secrets",
		"sh", "-c", `printf '%s|' "$(cat "$1/db_password")" "$(cat "$1/secret_key")"; printf 'staged=%s' "$(cat "$2"/*)"`, "job", dir, staged).CombinedOutput()
	if err != nil {
		t.Fatalf("the job failed: %v\n%s", err, out)
	}
	if want := "s3cret-db|django-insecure-key\nwith a newline|staged="; string(out) != want {
		t.Errorf("the job saw %q, want %q", out, want)
	}
	for name := range secrets {
		if b, err := os.ReadFile(filepath.Join(staged, name)); err != nil || len(b) != 0 {
			t.Errorf("staged %s holds %q after the run (%v)", name, b, err)
		}
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != 0o444 {
			t.Errorf("%s in the tmpfs: %v, %v; want mode 0444", name, info, err)
		}
	}
}

// A job whose secrets cannot reach the tmpfs does not run its command, and
// still empties what was staged.
func TestAJobWhoseSecretsCannotBeMovedFailsAndLeavesNothingStaged(t *testing.T) {
	staged := t.TempDir()
	if err := os.WriteFile(filepath.Join(staged, "db_password"), []byte("s3cret-db"), 0o666); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	out, err := exec.Command("sh", "-c", jobSecretsScript(staged, missing), "job-secrets", "echo", "the command ran").CombinedOutput()
	if err == nil || strings.Contains(string(out), "the command ran") {
		t.Errorf("the job went on without its secrets: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "could not move its secret files") {
		t.Errorf("the failure does not say what failed: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(staged, "db_password")); len(b) != 0 {
		t.Errorf("the staged file still holds %q", b)
	}
}

// Nothing staged (a glob that matches nothing) runs the command as it is.
func TestAJobWithNothingStagedRunsItsCommand(t *testing.T) {
	out, err := exec.Command("sh", "-c", jobSecretsScript(t.TempDir(), t.TempDir()), "job-secrets", "echo", "ran").CombinedOutput()
	if err != nil || string(out) != "ran\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestStagedSecretKeepsTheFilesName(t *testing.T) {
	if got := StagedSecret(SecretFile("DB_PASSWORD")); got != "/run/staged-secrets/db_password" {
		t.Errorf("StagedSecret = %q", got)
	}
}
