package components

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// serverSetting is one server setting a component's tuning types: its name
// in the server's configuration, the config key that sets it (relative to
// the component's settings) and its rendered value.
type serverSetting struct {
	name, key, value string
}

// settingPairs renders typed settings, in their order, then the extra ones
// by name: the order both servers read them in, so an extra setting comes
// last and would win.
func settingPairs(typed []serverSetting, extra map[string]string) [][2]string {
	out := make([][2]string, 0, len(typed)+len(extra))
	for _, s := range typed {
		out = append(out, [2]string{s.name, s.value})
	}
	return withExtra(out, extra)
}

// extraRules say which extra settings a server takes as meant.
type extraRules struct {
	// server names the server in messages ("Postgres").
	server string
	// name matches a setting name the server reads; example is one.
	name    *regexp.Regexp
	example string
	// typed are the settings the tuning types: an extra one of the same
	// name would override the typed value and bypass its checks.
	typed []serverSetting
	// reserved are settings the program relies on, with the reason.
	reserved map[string]string
	// secret are settings whose value must never be echoed.
	secret map[string]bool
}

// checkExtra reports the extra settings at key ("tuning.extra") that the
// server would refuse or that would undo what the program set.
func (r extraRules) check(ps *Problems, key string, extra map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		at := key + "." + name
		value := fmt.Sprintf("%q", extra[name])
		if r.secret[name] {
			value = "the value"
		}
		if !r.name.MatchString(name) {
			ps.Add(at, "%q is not a %s setting name (lower-case, e.g. %s)", name, r.server, r.example)
			continue
		}
		if why, ok := r.reserved[name]; ok {
			ps.Add(at, "%s cannot be set: %s", value, why)
			continue
		}
		if i := slices.IndexFunc(r.typed, func(t serverSetting) bool { return t.name == name }); i >= 0 {
			t := r.typed[i]
			ps.AddComparing(at, []string{t.key}, "%s would override %s (%s %s): extra settings come last on the command line and win, past the checks of the typed one; set %s instead",
				value, t.key, name, t.value, t.key)
		}
	}
}

// OnOff is a boolean as nginx's directives and Cloudflare's zone settings
// spell it.
func OnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// withExtra appends a component's extra settings, in name order, to its
// named settings.
func withExtra(settings [][2]string, extra map[string]string) [][2]string {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		settings = append(settings, [2]string{k, extra[k]})
	}
	return settings
}
