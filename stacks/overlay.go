package stacks

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/problems"
)

// reader applies config onto a profile and remembers, for the messages,
// what it could not read and what the config wrote.
type reader struct {
	problems problems.Problems
	// unread are the keys whose value could not be read (or was misspelt):
	// a later problem at such a key, or under it, follows from that one and
	// is not reported again.
	unread map[string]bool
	// written is each scalar the config set, by key, as the config wrote it.
	written map[string]string
	// set are the keys the config set, objects included.
	set map[string]bool
}

func newReader() *reader {
	return &reader{unread: map[string]bool{}, written: map[string]string{}, set: map[string]bool{}}
}

// fail reports a value that could not be read.
func (r *reader) fail(key, format string, args ...any) {
	r.problems.Add(key, format, args...)
	r.unread[key] = true
}

// overlay applies one decoded config value (what encoding/json produces from
// Pulumi's config: maps, slices, strings, float64s, bools) onto a profile
// field, reporting every problem with its full key. Structs are merged key by
// key, maps entry by entry (a null entry deletes), and everything else is
// replaced. Keys are the fields' json names, including those of embedded
// structs, so the profile types are the single list of what can be set.
func (r *reader) overlay(dst reflect.Value, src any, key string) {
	r.set[key] = true
	if src == nil && dst.Kind() != reflect.Map {
		r.fail(key, "is null; remove the key to keep the default")
		return
	}
	if text, isText := scalarText(src); isText {
		r.written[key] = text
	}
	if u, ok := dst.Addr().Interface().(encoding.TextUnmarshaler); ok {
		text, isText := scalarText(src)
		if !isText {
			r.fail(key, "%s is not a single value", describe(src))
			return
		}
		if err := u.UnmarshalText([]byte(text)); err != nil {
			r.fail(key, "%v", err)
		}
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		r.overlayStruct(dst, src, key)
	case reflect.Map:
		r.overlayMap(dst, src, key)
	case reflect.Slice:
		items, ok := src.([]any)
		if !ok {
			r.fail(key, "%s is not a list", describe(src))
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, item := range items {
			r.overlay(out.Index(i), item, fmt.Sprintf("%s[%d]", key, i))
		}
		dst.Set(out)
	case reflect.String:
		text, ok := src.(string)
		if !ok {
			r.fail(key, "%s is not a string", describe(src))
			return
		}
		dst.SetString(text)
	case reflect.Bool:
		b, ok := src.(bool)
		if text, isText := src.(string); isText {
			parsed, err := strconv.ParseBool(text)
			b, ok = parsed, err == nil
		}
		if !ok {
			r.fail(key, "%s is not true or false", describe(src))
			return
		}
		dst.SetBool(b)
	case reflect.Int:
		f, ok := number(src)
		if !ok || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			r.fail(key, "%s is not a whole number", describe(src))
			return
		}
		dst.SetInt(int64(f))
	case reflect.Float64:
		f, ok := number(src)
		if !ok {
			r.fail(key, "%s is not a number", describe(src))
			return
		}
		dst.SetFloat(f)
	default:
		// Only reachable if a profile field of a new kind is added.
		r.fail(key, "cannot be set from config (unsupported field kind %s)", dst.Kind())
	}
}

func (r *reader) overlayStruct(dst reflect.Value, src any, key string) {
	fields, ok := src.(map[string]any)
	if !ok {
		r.fail(key, "%s is not an object of settings (known keys: %s)", describe(src), strings.Join(settingNames(dst.Type()), ", "))
		return
	}
	var unknown []string
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		field, found := fieldByName(dst, name)
		if !found {
			unknown = append(unknown, name)
			continue
		}
		r.overlay(field, fields[name], problems.JoinKey(key, name))
	}
	// After the known keys, so that a guess the config set too is known.
	for _, name := range unknown {
		r.unknown(key, name, settingNames(dst.Type()))
	}
}

// unknown reports a key that is not a setting, with the known one it is
// closest to. Unless the config set that one too, it then counts as unread:
// what is wrong with its default is no news to a user who meant to set it.
func (r *reader) unknown(prefix, name string, known []string) {
	guess := closest(name, known)
	hint := ""
	if guess != "" {
		hint = fmt.Sprintf("; did you mean %q?", guess)
		if !r.set[problems.JoinKey(prefix, guess)] {
			r.unread[problems.JoinKey(prefix, guess)] = true
		}
	}
	r.fail(problems.JoinKey(prefix, name), "is not a setting%s (known keys: %s)", hint, strings.Join(known, ", "))
}

func (r *reader) overlayMap(dst reflect.Value, src any, key string) {
	entries, ok := src.(map[string]any)
	if !ok {
		r.fail(key, "%s is not an object of name: value pairs", describe(src))
		return
	}
	out := reflect.MakeMap(dst.Type())
	for _, k := range dst.MapKeys() {
		out.SetMapIndex(k, dst.MapIndex(k))
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		if entries[name] == nil {
			out.SetMapIndex(reflect.ValueOf(name), reflect.Value{})
			continue
		}
		if elem := dst.Type().Elem(); elem.Kind() == reflect.Struct {
			// An entry of settings (backend.roles.worker) is merged onto the
			// entry the profile has, or onto its type's defaults.
			entry := reflect.New(elem).Elem()
			if existing := out.MapIndex(reflect.ValueOf(name)); existing.IsValid() {
				entry.Set(existing)
			} else if d, ok := entry.Interface().(defaulted); ok {
				entry.Set(reflect.ValueOf(d.Defaults()))
			}
			r.overlay(entry, entries[name], problems.JoinKey(key, name))
			out.SetMapIndex(reflect.ValueOf(name), entry)
			continue
		}
		text, isText := scalarText(entries[name])
		if !isText {
			r.fail(problems.JoinKey(key, name), "%s is not a single value", describe(entries[name]))
			continue
		}
		r.written[problems.JoinKey(key, name)] = text
		out.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(text))
	}
	dst.Set(out)
}

// defaulted is a type of map entry whose new entries start from its
// defaults, not from zero values.
type defaulted interface{ Defaults() any }

// fieldByName finds the field whose json name is name, looking through
// embedded structs as encoding/json does.
func fieldByName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if found, ok := fieldByName(v.Field(i), name); ok {
				return found, true
			}
			continue
		}
		if jsonName(f) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// settingNames lists the json names of a struct's fields, embedded ones included.
func settingNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			names = append(names, settingNames(f.Type)...)
		} else if n := jsonName(f); n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// scalarText is a config scalar as text: strings as they are, numbers as
// JSON writes them (so `cpus: 1.5` and `cpus: "1.5"` both work).
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// number accepts a JSON number or a string holding one: `pulumi config set
// --path` stores numbers as strings.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// describe quotes a config value for an error message.
func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// closest is the known name closest to a misspelt one, or "" when none is
// close: at most two edits apart, case aside.
func closest(name string, known []string) string {
	best, bestDistance := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
