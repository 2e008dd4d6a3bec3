package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envctlRun runs envctl in-process and returns its exit status and output.
func envctlRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// withoutCLI leaves no pulumi CLI on PATH: a command that reaches the CLI
// then fails with status 1, so status 2 proves it was refused before.
func withoutCLI(t *testing.T) (projectDir string) {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
	projectDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(projectDir, "Pulumi.yaml"), []byte("name: django-stack\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return projectDir
}

// Every refusal is decided from the arguments alone, before the CLI runs or
// any backend is touched.
func TestRefusedBeforeTouchingAnything(t *testing.T) {
	dir := withoutCLI(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"deploy"}, `unknown command "deploy"`},
		{[]string{"--nope", "list"}, "flag provided but not defined: -nope"},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},

		{[]string{"clone"}, "--to NAME is required"},
		{[]string{"clone", "pr-42"}, `unexpected argument "pr-42": name the clone with --to`},
		{[]string{"clone", "--to", "production"}, `"production" has a profile of its own`},
		{[]string{"clone", "--to", "staging"}, `"staging" has a profile of its own`},
		{[]string{"clone", "--to", "local"}, `"local" has a profile of its own`},
		{[]string{"clone", "--to", "Production"}, "cannot name a clone"},
		{[]string{"clone", "--to", "PR_42"}, "cannot name a clone"},
		{[]string{"clone", "--to", "acme/django-stack/pr-42"}, "cannot name a clone"},
		{[]string{"clone", "--to", "pr-42", "--from", "production"}, "must not carry production's config"},
		{[]string{"clone", "--to", "pr-42", "--from", "PRODUCTION"}, "must not carry production's config"},
		{[]string{"clone", "--to", "pr-42", "--from", "acme/django-stack/staging"}, "not a stack name of this project"},

		{[]string{"destroy"}, "name one stack"},
		{[]string{"destroy", "pr-1", "pr-2"}, "name one stack"},
		{[]string{"destroy", "production"}, "never destroys production"},
		{[]string{"destroy", "--force", "production"}, "never destroys production"},
		{[]string{"destroy", "Production", "--force"}, "never destroys production"},
		{[]string{"destroy", "acme/django-stack/production"}, "not a stack name of this project"},
		{[]string{"destroy", "staging"}, "staging is not a clone; pass --force"},
		{[]string{"destroy", "Staging"}, "Staging is not a clone; pass --force"},
		{[]string{"destroy", "local"}, "local is not a clone; pass --force"},

		{[]string{"--dir", filepath.Join(dir, "missing"), "list"}, "no Pulumi.yaml in"},
	}
	for _, tt := range tests {
		args := append([]string{"--dir", dir}, tt.args...)
		code, stdout, stderr := envctlRun(t, args...)
		if code != exitRefused || !strings.Contains(stderr, tt.want) {
			t.Errorf("envctl %s: status %d, stderr %q; want status %d and %q", strings.Join(tt.args, " "), code, stderr, exitRefused, tt.want)
		}
		if stdout != "" {
			t.Errorf("envctl %s: printed %q on stdout; a refusal goes to stderr only", strings.Join(tt.args, " "), stdout)
		}
	}
}

// Past the refusals, a missing CLI is a failure (status 1) that says what
// is missing.
func TestNeedsCLI(t *testing.T) {
	dir := withoutCLI(t)
	for _, args := range [][]string{
		{"list"},
		{"clone", "--to", "pr-42"},
		{"destroy", "pr-42"},
		{"destroy", "staging", "--force"},
	} {
		code, _, stderr := envctlRun(t, append([]string{"--dir", dir}, args...)...)
		if code != exitFailed || !strings.Contains(stderr, "must be on PATH") {
			t.Errorf("envctl %s without pulumi: status %d, stderr %q; want status %d and a word on PATH", strings.Join(args, " "), code, stderr, exitFailed)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"clone", "-h"}, {"destroy", "--help"}} {
		code, stdout, _ := envctlRun(t, args...)
		if code != exitOK || !strings.Contains(stdout, "envctl [--dir DIR] clone [--from staging] --to NAME") {
			t.Errorf("envctl %s: status %d, stdout %q; want the usage and status 0", strings.Join(args, " "), code, stdout)
		}
	}
}

func TestBrief(t *testing.T) {
	tests := map[string]string{
		// As the Automation API words a failed command.
		"unable to read config: exit status 1\ncode: 1\nstdout: \nstderr: error: configuration key 'domains' not found for stack 'local'\n": "unable to read config: exit status 1: error: configuration key 'domains' not found for stack 'local'",
		"failed to destroy stack: exit status 255\ncode: 255\nstdout: lots of progress\nstderr: \n":                                         "failed to destroy stack: exit status 255",
		"exec: \"pulumi\": executable file not found in $PATH":                                                                              "exec: \"pulumi\": executable file not found in $PATH",
	}
	for in, want := range tests {
		if got := brief(errors.New(in)); got != want {
			t.Errorf("brief(%q) = %q, want %q", in, got, want)
		}
	}
}
