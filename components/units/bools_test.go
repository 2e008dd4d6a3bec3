package units_test

import (
	"testing"

	"github.com/djangostack/infra/components/units"
)

func TestBooleansAreSpeltAsEachReaderWants(t *testing.T) {
	for _, c := range []struct {
		name        string
		spell       func(bool) string
		true, false string
	}{
		{"OnOff", units.OnOff, "on", "off"},
		{"YesNo", units.YesNo, "yes", "no"},
		{"PythonBool", units.PythonBool, "True", "False"},
	} {
		if got := c.spell(true); got != c.true {
			t.Errorf("%s(true) = %q, want %q", c.name, got, c.true)
		}
		if got := c.spell(false); got != c.false {
			t.Errorf("%s(false) = %q, want %q", c.name, got, c.false)
		}
	}
}
