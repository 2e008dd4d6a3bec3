package stacks

import (
	"slices"
	"testing"

	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/stacks/outputs"
)

// TestOutputsNamesWhatTheProgramDeploys keeps what stacks/outputs tells
// cmd/backupctl equal to what the program deploys.
func TestOutputsNamesWhatTheProgramDeploys(t *testing.T) {
	if outputs.SwarmRuntime != string(runtime.Swarm) {
		t.Errorf("outputs.SwarmRuntime is %q, the program's swarm runtime %q", outputs.SwarmRuntime, runtime.Swarm)
	}
	if !slices.ContainsFunc(Base().parts(nil), func(c runtime.Part) bool { return c.Key == outputs.BackupContainer }) {
		t.Errorf("no part of the stack is %q, which backupctl looks up in the containers output", outputs.BackupContainer)
	}
}
