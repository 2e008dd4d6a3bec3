package tests

// The postgres command line the program renders, run by a real Postgres: a
// throwaway cluster in a temporary directory starts with it, and every tuned
// setting reads back as the profile's value.

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/units"
)

// pgSetting is one row of pg_settings.
type pgSetting struct {
	setting, unit, source, shown string
}

// value is the setting in the one unit used to compare: bytes for memory,
// the plain number otherwise.
func (s pgSetting) value() (float64, error) {
	n, err := strconv.ParseFloat(s.setting, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s.setting)
	}
	if s.unit == "" {
		return n, nil
	}
	// Memory units as pg_settings reports them ("8kB", "kB", "MB") are
	// PostgresSize syntax once they have a number.
	unit := s.unit
	if unit[0] < '0' || unit[0] > '9' {
		unit = "1" + unit
	}
	per, err := units.ParsePostgresSize(unit)
	if err != nil {
		return 0, fmt.Errorf("unit %q is not a memory unit", s.unit)
	}
	return n * float64(per.Bytes()), nil
}

// checkPostgres reports every tuned setting the running server does not
// hold as the profile says. The typed fields are compared in one unit
// (bytes, or the plain number); every rendered flag, extra ones included,
// must have been taken from the command line.
func checkPostgres(c *pgCluster, tuning postgres.Tuning) error {
	rendered := tuning.Settings()
	quoted := make([]string, len(rendered))
	for i, kv := range rendered {
		quoted[i] = "'" + strings.ReplaceAll(kv[0], "'", "''") + "'"
	}
	out, err := c.query("postgres", "SELECT name, setting, coalesce(unit, ''), source, current_setting(name) FROM pg_settings WHERE name IN ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return err
	}
	got := map[string]pgSetting{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return fmt.Errorf("unexpected psql row %q", line)
		}
		got[f[0]] = pgSetting{setting: f[1], unit: f[2], source: f[3], shown: f[4]}
	}

	// What each typed field must read back as, in bytes or as a number.
	want := map[string]float64{
		"shared_buffers":               float64(tuning.SharedBuffers.Bytes()),
		"effective_cache_size":         float64(tuning.EffectiveCacheSize.Bytes()),
		"max_connections":              float64(tuning.MaxConnections),
		"work_mem":                     float64(tuning.WorkMem.Bytes()),
		"checkpoint_completion_target": tuning.CheckpointCompletionTarget,
		"max_parallel_workers":         float64(tuning.MaxParallelWorkers),
	}
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !slices.ContainsFunc(rendered, func(kv [2]string) bool { return kv[0] == name }) {
			problems = append(problems, fmt.Errorf("%s: the profile's value is not rendered as a flag", name))
		}
	}
	for _, kv := range rendered {
		name, text := kv[0], kv[1]
		s, ok := got[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("%s: not a setting of this server", name))
			continue
		case s.source != "command line":
			problems = append(problems, fmt.Errorf("%s = %s comes from %q, not from the command line", name, s.shown, s.source))
		}
		w, typed := want[name]
		if !typed {
			// An extra setting: the server must show it as rendered.
			if s.shown != text {
				problems = append(problems, fmt.Errorf("%s: SHOW gives %q, rendered %q", name, s.shown, text))
			}
			continue
		}
		v, err := s.value()
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %v", name, err))
		} else if math.Abs(v-w) > 1e-9*math.Max(1, math.Abs(w)) {
			problems = append(problems, fmt.Errorf("%s: SHOW gives %s (%s × %s = %v), the profile says %v (rendered %q)", name, s.shown, s.setting, orOne(s.unit), v, w, text))
		}
	}
	return errors.Join(problems...)
}

func orOne(unit string) string {
	if unit == "" {
		return "1"
	}
	return unit
}

// postgresFlags is the shipped container's command without the program name:
// the flags the server is started with.
func postgresFlags(t *testing.T, st shippedStack) []string {
	t.Helper()
	cmd := st.run.container("postgres").strings("command")
	if !reflect.DeepEqual(cmd, st.profile.Postgres.Command()) {
		t.Fatalf("the shipped command %q is not the profile's render %q", cmd, st.profile.Postgres.Command())
	}
	if len(cmd) == 0 || cmd[0] != "postgres" {
		t.Fatalf("the shipped command %q does not run postgres", cmd)
	}
	return cmd[1:]
}

func TestPostgresStartsWithTheRenderedCommand(t *testing.T) {
	t.Parallel()
	bin := requirePostgres(t)
	forEachShippedStack(t, func(t *testing.T, st shippedStack) {
		flags := postgresFlags(t, st)
		c := newPgCluster(t, bin, pgOptions{})
		if _, err := c.start(t, flags); err != nil {
			t.Fatalf("postgres %s: %v", strings.Join(flags, " "), err)
		}
		if err := checkPostgres(c, st.profile.Postgres.Tuning); err != nil {
			t.Errorf("stack %s: Postgres does not hold the profile's tuning:\n%v", st.name, err)
		}
	})
}

// The check must be able to fail: a broken render fails it.
func TestPostgresCheckFailsOnABrokenRender(t *testing.T) {
	t.Parallel()
	bin := requirePostgres(t)
	st := loadShippedStack(t, "production")
	flags := postgresFlags(t, st)
	tuning := st.profile.Postgres.Tuning
	c := newPgCluster(t, bin, pgOptions{})

	// withFlag replaces the value of one rendered -c flag.
	withFlag := func(name, value string) []string {
		out := slices.Clone(flags)
		for i, f := range out {
			if strings.HasPrefix(f, name+"=") {
				out[i] = name + "=" + value
				return out
			}
		}
		t.Fatalf("no -c %s= among %q", name, flags)
		return nil
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"unknown flag", append(slices.Clone(flags), "-c", "shared_bufers="+tuning.SharedBuffers.String()),
			`unrecognized configuration parameter "shared_bufers"`},
		{"unit in the wrong case", withFlag("shared_buffers", strings.ToLower(tuning.SharedBuffers.String())),
			`invalid value for parameter "shared_buffers"`},
	} {
		srv, err := c.start(t, tc.flags)
		if err == nil || !errors.Is(err, errStartFailed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: postgres %q started or failed otherwise: %v\nwant it refused with %q", tc.name, tc.flags, err, tc.want)
		}
		if srv != nil {
			srv.stop()
		}
	}

	// A render that Postgres accepts but that differs from the profile.
	doubled := units.PostgresSize(2 * tuning.WorkMem.Bytes())
	srv, err := c.start(t, withFlag("work_mem", doubled.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	if err := checkPostgres(c, tuning); err == nil || !strings.Contains(err.Error(), "work_mem: SHOW gives "+doubled.String()) {
		t.Errorf("work_mem rendered as %s against a profile of %s: %v, want the check to report it", doubled, tuning.WorkMem, err)
	}
}
