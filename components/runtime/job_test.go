package runtime

import "testing"

func TestAJobRunsAgainAfterAFailureAndKeepsItsNameOnceItPassed(t *testing.T) {
	runs := JobRuns{
		"passed":         {Attempt: 1, ExitCode: 0},
		"failed":         {Attempt: 1, ExitCode: 1},
		"passed-later":   {Attempt: 3, ExitCode: 0},
		"failed-again":   {Attempt: 2, ExitCode: 137},
		"no-attempt-yet": {Attempt: 0, ExitCode: 1},
	}
	for job, want := range map[string]int{
		"never-ran":      1,
		"passed":         1,
		"failed":         2,
		"passed-later":   3,
		"failed-again":   3,
		"no-attempt-yet": 1,
	} {
		if got := runs.Next(job); got != want {
			t.Errorf("Next(%q) = %d, want %d", job, got, want)
		}
	}
	if got := JobRuns(nil).Next("backend-migrate-0123456789"); got != 1 {
		t.Errorf("a first deploy runs attempt %d, want 1", got)
	}
	for _, c := range []struct {
		attempt int
		want    string
	}{{1, "postgres-password-0123456789"}, {2, "postgres-password-0123456789-2"}, {12, "postgres-password-0123456789-12"}} {
		if got := attemptName("postgres-password-0123456789", c.attempt); got != c.want {
			t.Errorf("attemptName(attempt %d) = %q, want %q", c.attempt, got, c.want)
		}
	}
}
