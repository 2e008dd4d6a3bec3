package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/djangostack/infra/stacks"
)

// shippedStackFiles are the Pulumi.<stack>.yaml files at the project's root:
// the shipped ones, or a team's with its real facts in them.
func shippedStackFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../Pulumi.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Pulumi.<stack>.yaml at the project's root")
	}
	return files
}

// TestShippedStackFilesLoad: whatever a team writes into its
// Pulumi.<stack>.yaml, every key is one the program reads and every value
// loads, as `pulumi preview` would load it. The tests deploy fixtures of
// their own; this is the one check that reads the shipped files' values,
// and it holds for the documentation facts and a team's real ones alike.
func TestShippedStackFilesLoad(t *testing.T) {
	for _, path := range shippedStackFiles(t) {
		stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "Pulumi."), ".yaml")
		t.Run(stack, func(t *testing.T) {
			values, secrets := configFor(t, readStackFile(t, path))
			_, _, err := stacks.Load(stacks.Stack{Project: project, Name: stack, Root: ".."}, stacks.MapConfig{Values: values, Secrets: secrets})
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
		})
	}
}
