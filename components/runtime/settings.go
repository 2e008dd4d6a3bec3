package runtime

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/djangostack/infra/components/problems"
)

// serverSetting is one server setting a component's tuning types: its name
// in the server's configuration, the config key that sets it (relative to
// the component's settings) and its rendered value.
type ServerSetting struct {
	Name, Key, Value string
}

// settingPairs renders typed settings, in their order, then the extra ones
// by name: the order both servers read them in, so an extra setting comes
// last and would win.
func SettingPairs(typed []ServerSetting, extra map[string]string) [][2]string {
	out := make([][2]string, 0, len(typed)+len(extra))
	for _, s := range typed {
		out = append(out, [2]string{s.Name, s.Value})
	}
	return WithExtra(out, extra)
}

// extraRules say which extra settings a server takes as meant.
type ExtraRules struct {
	// Server names the server in messages ("Postgres").
	Server string
	// Name matches a setting name the server reads; Example is one.
	Name    *regexp.Regexp
	Example string
	// Typed are the settings the tuning types: an extra one of the same
	// name would override the typed value and bypass its checks.
	Typed []ServerSetting
	// Reserved are settings the program relies on, with the reason.
	Reserved map[string]string
	// Secret are settings whose value must never be echoed.
	Secret map[string]bool
}

// Check reports the extra settings at key ("tuning.extra") that the
// server would refuse or that would undo what the program set.
func (r ExtraRules) Check(ps *problems.Problems, key string, extra map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		at := key + "." + name
		value := fmt.Sprintf("%q", extra[name])
		if r.Secret[name] {
			value = "the value"
		}
		if !r.Name.MatchString(name) {
			ps.Add(at, "%q is not a %s setting name (lower-case, e.g. %s)", name, r.Server, r.Example)
			continue
		}
		if why, ok := r.Reserved[name]; ok {
			ps.Add(at, "%s cannot be set: %s", value, why)
			continue
		}
		if i := slices.IndexFunc(r.Typed, func(t ServerSetting) bool { return t.Name == name }); i >= 0 {
			t := r.Typed[i]
			ps.AddComparing(at, []string{t.Key}, "%s would override %s (%s %s): extra settings come last on the command line and win, past the checks of the typed one; set %s instead",
				value, t.Key, name, t.Value, t.Key)
		}
	}
}

// withExtra appends a component's extra settings, in name order, to its
// named settings.
func WithExtra(settings [][2]string, extra map[string]string) [][2]string {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		settings = append(settings, [2]string{k, extra[k]})
	}
	return settings
}
