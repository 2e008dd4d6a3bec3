package skipped

import (
	"strings"
	"testing"
)

func TestSummaryGroupsTheSkipsByWhatIsMissing(t *testing.T) {
	got := Summary([]string{
		"nginx not installed\tapt-get install nginx\tTestNginxServes",
		"nginx not installed\tapt-get install nginx\tTestNginxRefuses",
		"nginx not installed\tapt-get install nginx\tTestNginxRefuses",
		"no Traefik binary\tset TRAEFIK_BIN\tTestTraefik",
		"a torn line",
	})
	for _, want := range []string{
		"nginx not installed", "2 check(s), e.g. TestNginxServes\n      apt-get install nginx\n",
		"no Traefik binary", "1 check(s), e.g. TestTraefik\n      set TRAEFIK_BIN\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 5 {
		t.Errorf("summary has %d lines, want a heading and two per tool:\n%s", strings.Count(got, "\n"), got)
	}
	if Summary(nil) != "" {
		t.Error("a summary with nothing skipped")
	}
}
