package stacks_test

import (
	"testing"

	"github.com/djangostack/infra/stacks"
)

func TestLoadReadsOnlyTheProjectsNamespace(t *testing.T) {
	cfg := stacks.MapConfig{Values: map[string]string{
		"other-project:domains": `["wrong.example.com"]`,
		"django-stack:domains":  `["right.example.com"]`,
		"django-stack:backend":  `{"image":"app:1"}`,
		"django-stack:host":     `{"docker":"ssh://deploy@staging.example.com"}`,
	}}
	p, _, err := stacks.Load(stacks.Stack{Project: "django-stack", Name: "staging"}, cfg)
	if err != nil || len(p.Domains) != 1 || p.Domains[0] != "right.example.com" {
		t.Errorf("Load = %v, %v", p.Domains, err)
	}
}
