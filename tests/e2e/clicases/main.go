// Command clicases puts the bad configs of tests/testdata/cli-cases.yaml
// through the real engine, as a user meets them: for each case it creates
// the stack, writes the case's config as Pulumi.<stack>.yaml, runs
// `pulumi preview`, and checks what the terminal shows: the preview fails,
// the program's message is there once, nothing of the case's `absent` list
// is, and nothing but the stack itself is planned. The stack is removed
// afterwards.
//
//	clicases -cases tests/testdata/cli-cases.yaml -project DIR
//
// DIR is a throwaway copy of the project whose Pulumi.yaml runs the
// compiled program; the caller sets PULUMI_BACKEND_URL (a file backend) and
// PULUMI_CONFIG_PASSPHRASE, and puts the CLI and the plugins on PATH.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/djangostack/infra/tests/clicase"
)

// planned matches a resource the preview would create, update or delete.
var planned = regexp.MustCompile(`(?m)^\s*[+~-]\s+(docker|random|cloudflare):`)

func main() {
	casesFile := flag.String("cases", "tests/testdata/cli-cases.yaml", "the cases")
	project := flag.String("project", "", "a throwaway copy of the project")
	flag.Parse()
	cases, err := clicase.Load(*casesFile)
	if err != nil {
		fatal(err)
	}
	failed := 0
	for _, c := range cases {
		start := time.Now()
		if err := run(*project, c); err != nil {
			failed++
			fmt.Printf("  FAIL  %s: %v\n", c.Name, err)
			continue
		}
		fmt.Printf("  ok  pulumi preview --stack %s: %s (%.1fs)\n", c.Stack, c.Name, time.Since(start).Seconds())
	}
	if failed > 0 {
		fatal(fmt.Errorf("%d of %d cases failed", failed, len(cases)))
	}
}

func run(project string, c clicase.Case) (err error) {
	if _, err := pulumi(project, "stack", "init", c.Stack); err != nil {
		return err
	}
	file := filepath.Join(project, "Pulumi."+c.Stack+".yaml")
	defer func() {
		if _, rmErr := pulumi(project, "stack", "rm", c.Stack, "--yes", "--force"); rmErr != nil && err == nil {
			err = rmErr
		}
		os.Remove(file)
	}()
	// stack init wrote the stack's encryption salt there: keep it.
	settings := map[string]any{}
	if b, err := os.ReadFile(file); err == nil {
		if err := yaml.Unmarshal(b, &settings); err != nil {
			return err
		}
	}
	settings["config"] = c.Config
	b, err := yaml.Marshal(settings)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return err
	}
	out, err := pulumi(project, "preview", "--stack", c.Stack)
	if err == nil {
		return fmt.Errorf("the preview succeeded:\n%s", out)
	}
	// The progress lines echo an error's first line next to the stack;
	// the Diagnostics section is where the whole message is, and once.
	_, diagnostics, _ := strings.Cut(out, "\nDiagnostics:\n")
	var problems []string
	for _, want := range c.Want {
		if n := strings.Count(diagnostics, want); n != 1 {
			problems = append(problems, fmt.Sprintf("%q appears %d times under Diagnostics, want once", want, n))
		}
	}
	for _, absent := range c.Absent {
		if strings.Contains(out, absent) {
			problems = append(problems, fmt.Sprintf("%q is in the output", absent))
		}
	}
	if m := planned.FindAllString(out, -1); len(m) > 0 {
		problems = append(problems, fmt.Sprintf("resources were planned: %q", m))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s\n--- output:\n%s", strings.Join(problems, "; "), out)
	}
	return nil
}

// pulumi runs the CLI in the project, returning its combined output.
func pulumi(project string, args ...string) (string, error) {
	cmd := exec.Command("pulumi", args...)
	cmd.Dir = project
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return out.String(), err
	}
	if err != nil && args[0] != "preview" {
		return out.String(), fmt.Errorf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "clicases:", err)
	os.Exit(1)
}
