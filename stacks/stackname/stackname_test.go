package stackname

import (
	"slices"
	"strings"
	"testing"
)

func TestDomains(t *testing.T) {
	tests := []struct {
		stack      string
		configured []string
		want       []string
	}{
		{"production", []string{"example.com", "www.example.com"}, []string{"example.com", "www.example.com"}},
		{"staging", []string{"staging.example.com"}, []string{"staging.example.com"}},
		{"pr-42", []string{"staging.example.com"}, []string{"pr-42.staging.example.com"}},
		// Already derived (a clone's own config names its host): kept.
		{"pr-42", []string{"pr-42.staging.example.com"}, []string{"pr-42.staging.example.com"}},
		{"pr-42", nil, []string{}},
	}
	for _, tt := range tests {
		if got := Domains(tt.stack, tt.configured); !slices.Equal(got, tt.want) {
			t.Errorf("Domains(%q, %q) = %q, want %q", tt.stack, tt.configured, got, tt.want)
		}
	}
}

func TestCheckClone(t *testing.T) {
	for _, name := range []string{"pr-42", "a", "feature-login", "1", strings.Repeat("a", 63)} {
		if err := CheckClone(name); err != nil {
			t.Errorf("CheckClone(%q) = %v, want nil", name, err)
		}
	}
	refused := map[string]string{
		"production":            "profile of its own",
		"staging":               "profile of its own",
		"local":                 "profile of its own",
		"":                      "cannot name a clone",
		"PR-42":                 "cannot name a clone",
		"pr_42":                 "cannot name a clone",
		"pr.42":                 "cannot name a clone",
		"-pr":                   "cannot name a clone",
		"pr-":                   "cannot name a clone",
		"acme/django/pr-42":     "cannot name a clone",
		strings.Repeat("a", 64): "cannot name a clone",
	}
	for name, want := range refused {
		err := CheckClone(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckClone(%q) = %v, want an error containing %q", name, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, name := range []string{"production", "staging", "local", "pr-42"} {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q) = %v, want nil", name, err)
		}
	}
	refused := map[string]string{
		"Staging":    `"Staging" is not "staging": stack names are case-sensitive`,
		"PRODUCTION": `"PRODUCTION" is not "production"`,
		"PR_42":      `"PR_42" cannot name a clone`,
		"pr.42":      `"pr.42" cannot name a clone`,
	}
	for name, want := range refused {
		if err := Check(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want an error containing %q", name, err, want)
		}
	}
}
