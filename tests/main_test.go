package tests

import (
	"os"
	"testing"

	"github.com/djangostack/infra/tests/skipped"
)

// TestMain reports, once the package's tests are done, the checks that
// go test ./... skipped for want of a tool, this package's and the other
// packages': this package runs longest, so it ends last.
func TestMain(m *testing.M) {
	code := m.Run()
	skipped.Report()
	os.Exit(code)
}
