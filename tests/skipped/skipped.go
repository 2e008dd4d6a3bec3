// Package skipped says, once per go test ./..., which checks were skipped
// for want of a tool and how to install it. go test shows nothing of a
// package that passes, skips included, so a newcomer would not know that
// the server checks did not run. Each skip is recorded in a file that the
// test binaries of one go test run share (named after the go command's
// process); the tests package, the longest, reports them all when it ends,
// straight to the terminal, the one output go test does not hold back.
package skipped

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// record is the file of this go test run's skips.
func record() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("django-stack-skipped-%d", os.Getppid()))
}

// Skip records that t is skipped for want of what, which install brings
// (a command), and skips it with both.
func Skip(t testing.TB, what, install string) {
	t.Helper()
	if f, err := os.OpenFile(record(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintf(f, "%s\t%s\t%s\n", what, install, t.Name())
		f.Close()
	}
	t.Skipf("%s (%s)", what, install)
}

// Summary is the report of the recorded skips: for each missing tool, what
// installs it and how many checks it would run. "" when none was skipped.
func Summary(lines []string) string {
	type want struct {
		what, install string
		tests         []string
	}
	var wants []*want
	for _, line := range lines {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			continue
		}
		i := slices.IndexFunc(wants, func(w *want) bool { return w.what == f[0] })
		if i < 0 {
			wants = append(wants, &want{what: f[0], install: f[1]})
			i = len(wants) - 1
		}
		if !slices.Contains(wants[i].tests, f[2]) {
			wants[i].tests = append(wants[i].tests, f[2])
		}
	}
	if len(wants) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "go test: checks skipped for want of a tool (docs/testing.md says what each proves):\n")
	for _, w := range wants {
		fmt.Fprintf(&b, "  %-55s %3d check(s), e.g. %s\n      %s\n", w.what, len(w.tests), w.tests[0], w.install)
	}
	return b.String()
}

// Report prints the summary of this go test run's skips to the terminal
// and removes the record. Without a terminal (CI, where a missing tool
// fails its check) it prints nothing.
func Report() {
	path := record()
	f, err := os.Open(path)
	if err != nil {
		return
	}
	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
	}
	f.Close()
	os.Remove(path)
	summary := Summary(lines)
	if summary == "" {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer tty.Close()
	fmt.Fprint(tty, summary)
}
