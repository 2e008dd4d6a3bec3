// Package clicase reads tests/testdata/cli-cases.yaml: stack configs that
// the real engine must refuse with the program's own message. The mock tests
// (package tests) and the end-to-end driver (tests/e2e/clicases) read the
// same cases through it.
package clicase

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Case is one bad config and what `pulumi preview` must show for it.
type Case struct {
	Name   string         `yaml:"name"`   // what the case is about, printed with its result
	Stack  string         `yaml:"stack"`  // the stack the config is written for
	Config map[string]any `yaml:"config"` // the stack's config, keys with the project prefix
	Want   []string       `yaml:"want"`   // each must appear in the message
	Absent []string       `yaml:"absent"` // none may appear (a secret's value, say)
}

// Load reads the cases from path.
func Load(path string) ([]Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []Case
	if err := yaml.Unmarshal(b, &cases); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cases, nil
}
