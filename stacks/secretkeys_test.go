package stacks_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/stacks"
)

// A setting that holds a value set with --secret is refused at its
// top-level key (all the engine tells), naming the values inside it that
// the stack's file holds encrypted, never a value.
func TestASecretSettingIsRefusedByItsKeys(t *testing.T) {
	const secretValue = "sk_live_51Hq9ZZ"
	for _, c := range []struct {
		name   string
		file   string // Pulumi.staging.yaml's config; empty: no file
		key    string // the top-level key, secret
		value  string // its value as the engine hands it over
		want   []string
		absent []string
	}{
		{
			name: "an env variable, named with the command that moves it",
			file: "django-stack:backend:\n    env:\n      PLAIN: x\n      STRIPE_KEY:\n        secure: v1:AAAA\n",
			key:  "backend", value: `{"env":{"PLAIN":"x","STRIPE_KEY":"` + secretValue + `"}}`,
			want: []string{"backend: holds a value set with --secret (backend.env.STRIPE_KEY)",
				"pulumi config rm --path 'backend.env.STRIPE_KEY' && pulumi config set --secret --path 'backendSecrets.STRIPE_KEY' <value>"},
			absent: []string{"PLAIN"},
		},
		{
			name: "values in a list and deeper",
			file: "django-stack:backend:\n    command:\n      - gunicorn\n      - secure: v1:BBBB\n    roles:\n      worker:\n        env:\n          K:\n            secure: v1:CCCC\n",
			key:  "backend", value: `{"command":["gunicorn","` + secretValue + `"],"roles":{"worker":{"env":{"K":"v"}}}}`,
			want: []string{"(backend.command[1], backend.roles.worker.env.K)", "pulumi config set --secret --path 'backendSecrets.NAME' <value>"},
		},
		{
			name: "no stack file: the key alone",
			key:  "postgres", value: `{"tuning":{"workMem":"` + secretValue + `"}}`,
			want: []string{"postgres: holds a value set with --secret, and the program reads postgres as settings"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			if c.file != "" {
				if err := os.WriteFile(filepath.Join(root, "Pulumi.staging.yaml"), []byte("config:\n  "+c.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := stacks.MapConfig{Values: map[string]string{"django-stack:" + c.key: c.value}, Secrets: []string{"django-stack:" + c.key}}
			_, _, err := stacks.Load(stacks.Stack{Project: "django-stack", Name: "staging", Root: root}, cfg)
			// The stack's other problems (no host, no domains) come too.
			var ce *stacks.ConfigError
			if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p problems.Problem) bool { return p.Key == c.key }) {
				t.Fatalf("want a problem at %s, got %v", c.key, err)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the message lacks %q:\n%s", w, msg)
				}
			}
			for _, a := range append(c.absent, secretValue, "v1:") {
				if strings.Contains(msg, a) {
					t.Errorf("the message says %q:\n%s", a, msg)
				}
			}
		})
	}
}

// The same key, not secret, is read.
func TestAPlainSettingIsRead(t *testing.T) {
	cfg := stacks.MapConfig{Values: map[string]string{"django-stack:backend": `{"env":{"PLAIN":"x"}}`}}
	p, _, err := stacks.Load(stacks.Stack{Project: "django-stack", Name: "staging", Root: t.TempDir()}, cfg)
	if p.Backend.Env["PLAIN"] != "x" || strings.Contains(err.Error(), "backend: ") {
		t.Errorf("Load = %v, %v", p.Backend.Env, err)
	}
}
