package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/djangostack/infra/tests/clicase"
)

func cliCases(t *testing.T) []clicase.Case {
	t.Helper()
	cases, err := clicase.Load(filepath.Join("testdata", "cli-cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestCLICasesHoldUnderMocks runs the cases meant for `pulumi preview`
// under mocks: the messages they expect are the program's, and a case never
// points a stack at a Docker host other than this machine's socket.
func TestCLICasesHoldUnderMocks(t *testing.T) {
	cases := cliCases(t)
	if len(cases) < 5 {
		t.Fatalf("only %d CLI cases", len(cases))
	}
	for _, c := range cases {
		if c.Name == "" || c.Stack == "" || len(c.Want) == 0 {
			t.Errorf("case %q lacks a name, a stack or what it wants", c.Name)
			continue
		}
		cfg := map[string]any{}
		for k, v := range c.Config {
			cfg[strings.TrimPrefix(k, project+":")] = v
		}
		if host, _ := cfg["host"].(map[string]any); host != nil && host["docker"] != "unix:///var/run/docker.sock" {
			t.Errorf("%s: host.docker is %v; the CLI cases use this machine's socket only", c.Name, host["docker"])
		}
		if cfg["host"] == nil && c.Stack != "local" {
			t.Errorf("%s: names no host.docker; set unix:///var/run/docker.sock", c.Name)
		}
		r := deploy(t, c.Stack, cfg)
		if r.err == nil {
			t.Errorf("%s: accepted", c.Name)
			continue
		}
		for _, want := range c.Want {
			if !strings.Contains(r.err.Error(), want) {
				t.Errorf("%s: the message lacks %q:\n%v", c.Name, want, r.err)
			}
		}
		for _, absent := range c.Absent {
			if strings.Contains(r.err.Error(), absent) {
				t.Errorf("%s: the message contains %q:\n%v", c.Name, absent, r.err)
			}
		}
		if n := len(r.rec.regs); n != 0 {
			t.Errorf("%s: %d resources registered", c.Name, n)
		}
	}
}
