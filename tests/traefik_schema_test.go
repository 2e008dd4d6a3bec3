package tests

// What the program renders for Traefik, checked against Traefik v3's own
// model as SchemaStore's JSON schemas describe it (no Traefik binary can be
// had here): the static configuration validates against traefik-v3.json and
// holds the profile's values; the routers, services and middlewares that the
// labels on every container describe, built into the dynamic-configuration
// tree Traefik's Docker provider would build from them, validate against
// traefik-v3-file-provider.json, and every reference in them resolves.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangostack/infra/components"
	"github.com/djangostack/infra/stacks"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// traefikSchema is one of the schemas, compiled for validation and kept as
// a document to resolve option names against.
type traefikSchema struct {
	file     string
	doc      map[string]any
	compiled *jsonschema.Schema
}

var (
	traefikSchemasOnce             sync.Once
	traefikStaticSchema, traefikFP *traefikSchema
	traefikSchemasErr              error
)

// traefikSchemas loads testdata/schemas/traefik-v3.json (static) and
// traefik-v3-file-provider.json (dynamic).
func traefikSchemas(t *testing.T) (static, dynamic *traefikSchema) {
	t.Helper()
	traefikSchemasOnce.Do(func() {
		load := func(file string) (*traefikSchema, error) {
			raw, err := os.ReadFile(filepath.Join("testdata", "schemas", file))
			if err != nil {
				return nil, err
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			c := jsonschema.NewCompiler()
			id, _ := doc["$id"].(string)
			if err := c.AddResource(id, parsed); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			compiled, err := c.Compile(id)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			return &traefikSchema{file: file, doc: doc, compiled: compiled}, nil
		}
		if traefikStaticSchema, traefikSchemasErr = load("traefik-v3.json"); traefikSchemasErr == nil {
			traefikFP, traefikSchemasErr = load("traefik-v3-file-provider.json")
		}
	})
	if traefikSchemasErr != nil {
		t.Fatal(traefikSchemasErr)
	}
	return traefikStaticSchema, traefikFP
}

// validate checks a document (plain Go values) against the schema. It goes
// through JSON so that numbers reach the validator as JSON numbers.
func (s *traefikSchema) validate(doc any) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := s.compiled.Validate(inst); err != nil {
		return fmt.Errorf("against %s: %w", s.file, err)
	}
	return nil
}

// resolve follows a local $ref ("#/definitions/httpRouter", "#/$defs/x").
func (s *traefikSchema) resolve(node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return node
		}
		var cur any = s.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[part]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return node
		}
		node = next
	}
}

// alternatives are a schema node and every schema it combines (allOf,
// anyOf, oneOf), references followed.
func (s *traefikSchema) alternatives(node map[string]any) []map[string]any {
	node = s.resolve(node)
	out := []map[string]any{node}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := node[kw].([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				out = append(out, s.alternatives(m)...)
			}
		}
	}
	return out
}

// option finds the schema of key inside an object schema: a named property
// (case-insensitively when fold is set, as Traefik reads labels), else the
// schema of a map's values, the key being a name (a router's, a header's).
// A key the schema does not name is an error, even where the schema itself
// leaves the object open: Traefik refuses options it does not know.
func (s *traefikSchema) option(node map[string]any, key string, fold bool) (string, map[string]any, error) {
	alts := s.alternatives(node)
	var known []string
	constrained := false
	for _, pass := range []bool{false, true} {
		for _, a := range alts {
			props, _ := a["properties"].(map[string]any)
			for name, child := range props {
				constrained = true
				if !pass {
					known = append(known, name)
				}
				if name == key || (pass && fold && strings.EqualFold(name, key)) {
					c, _ := child.(map[string]any)
					return name, s.resolve(c), nil
				}
			}
		}
	}
	for _, a := range alts {
		switch ap := a["additionalProperties"].(type) {
		case map[string]any:
			return key, s.resolve(ap), nil
		case bool:
			constrained = true
			if ap {
				return key, map[string]any{}, nil
			}
		}
	}
	if !constrained {
		// A schema that says nothing about its content ({}): anything goes.
		return key, map[string]any{}, nil
	}
	sort.Strings(known)
	return "", nil, fmt.Errorf("%q is not a Traefik v3 option here (known: %s)", key, strings.Join(slices.Compact(known), ", "))
}

// types are the JSON types a schema node allows.
func (s *traefikSchema) types(node map[string]any) []string {
	var out []string
	for _, a := range s.alternatives(node) {
		switch t := a["type"].(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, e := range t {
				out = append(out, fmt.Sprint(e))
			}
		}
	}
	return out
}

// items is the schema of an array's elements.
func (s *traefikSchema) items(node map[string]any) map[string]any {
	for _, a := range s.alternatives(node) {
		if m, ok := a["items"].(map[string]any); ok {
			return s.resolve(m)
		}
	}
	return map[string]any{}
}

// knownKeys reports every object key of doc that the schema does not name,
// with its path. The schemas leave some objects open (the static root,
// healthCheck, tls); Traefik does not.
func (s *traefikSchema) knownKeys(doc any, node map[string]any, path string) []error {
	var problems []error
	switch d := doc.(type) {
	case map[string]any:
		for _, k := range sortedNames(d) {
			_, child, err := s.option(node, k, false)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", strings.TrimPrefix(path+"."+k, "."), err))
				continue
			}
			problems = append(problems, s.knownKeys(d[k], child, path+"."+k)...)
		}
	case []any:
		for i, e := range d {
			problems = append(problems, s.knownKeys(e, s.items(node), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return problems
}

// check is the whole schema check of a document: its keys, then its values.
func (s *traefikSchema) check(doc map[string]any) error {
	problems := s.knownKeys(doc, s.doc, "")
	if err := s.validate(doc); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// --- the static configuration ---------------------------------------------

// traefikDuration reads a duration the way Traefik's configuration does: a
// whole number of seconds, or Go's time.ParseDuration syntax ("60s", "1m30s";
// not "1d").
func traefikDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case int:
		return time.Duration(x) * time.Second, nil
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration Traefik reads (seconds, or Go syntax such as 60s or 1m30s)", x)
		}
		return d, nil
	}
	return 0, fmt.Errorf("%v (%T) is not a duration", v, v)
}

// parseTraefikStatic reads a rendered traefik.yml.
func parseTraefikStatic(text string) (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("traefik.yml is not YAML: %w", err)
	}
	return doc, nil
}

// checkTraefikStaticValues reports every way the static configuration
// differs from the profile: HTTP/2 streams and responding timeouts on each
// public entrypoint, the metrics entrypoint, buckets and ping, the Docker
// provider's endpoint, network, constraints and opt-in, the log level and
// access log. publishedPorts are the container ports the container publishes.
func checkTraefikStaticValues(doc map[string]any, p stacks.Profile, naming components.Naming, publishedPorts []int) error {
	var problems []error
	fail := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	s := p.Traefik
	eps := asMap(doc["entryPoints"])
	port := func(name string) int {
		addr, _ := asMap(eps[name])["address"].(string)
		n, err := strconv.Atoi(strings.TrimPrefix(addr, ":"))
		if !strings.HasPrefix(addr, ":") || err != nil {
			fail("entryPoints.%s.address %q is not \":<port>\"", name, addr)
		}
		return n
	}

	// Metrics and ping share an entrypoint on the metrics port.
	metricsEP, _ := at(doc, "metrics.prometheus.entryPoint").(string)
	if _, ok := eps[metricsEP]; !ok {
		fail("metrics.prometheus.entryPoint %q is not an entrypoint", metricsEP)
	} else if got := port(metricsEP); got != s.Metrics.Port {
		fail("the metrics entrypoint listens on %d, the profile says %d", got, s.Metrics.Port)
	}
	if ping, _ := at(doc, "ping.entryPoint").(string); ping != metricsEP {
		fail("ping.entryPoint %q, want the metrics entrypoint %q (the healthcheck's)", ping, metricsEP)
	}
	var buckets []float64
	for _, b := range asSlice(at(doc, "metrics.prometheus.buckets")) {
		f, _ := numbersAsFloats(b).(float64)
		buckets = append(buckets, f)
	}
	if !reflect.DeepEqual(buckets, s.Metrics.Buckets) {
		fail("metrics.prometheus.buckets %v, the profile says %v", buckets, s.Metrics.Buckets)
	}
	if slices.Contains(publishedPorts, s.Metrics.Port) {
		fail("the metrics port %d is published", s.Metrics.Port)
	}

	// The public entrypoints: the site's, and one per published port.
	site := p.Site()
	if _, ok := eps[site.EntryPoint()]; !ok {
		fail("the site's entrypoint %q is missing", site.EntryPoint())
	}
	public := map[int]bool{}
	for _, name := range sortedNames(eps) {
		if name == metricsEP {
			continue
		}
		public[port(name)] = true
		if got := at(eps[name], "http2.maxConcurrentStreams"); numbersAsFloats(got) != float64(s.HTTP2MaxConcurrentStreams) {
			fail("entryPoints.%s.http2.maxConcurrentStreams %v, the profile says %d", name, got, s.HTTP2MaxConcurrentStreams)
		}
		for _, tm := range []struct {
			key  string
			want components.Duration
		}{{"readTimeout", s.RespondingTimeouts.Read}, {"writeTimeout", s.RespondingTimeouts.Write}, {"idleTimeout", s.RespondingTimeouts.Idle}} {
			raw := at(eps[name], "transport.respondingTimeouts."+tm.key)
			got, err := traefikDuration(raw)
			if err != nil {
				fail("entryPoints.%s.transport.respondingTimeouts.%s: %v", name, tm.key, err)
			} else if got != time.Duration(tm.want) {
				fail("entryPoints.%s.transport.respondingTimeouts.%s %v, the profile says %s", name, tm.key, raw, tm.want)
			}
		}
	}
	for _, pp := range publishedPorts {
		if !public[pp] {
			fail("container port %d is published but no public entrypoint listens on it", pp)
		}
	}
	for pp := range public {
		if !slices.Contains(publishedPorts, pp) {
			fail("a public entrypoint listens on %d, which is not published", pp)
		}
	}

	// The Docker provider sees only this deployment's containers that opt in.
	docker := asMap(at(doc, "providers.docker"))
	if docker["exposedByDefault"] != false {
		fail("providers.docker.exposedByDefault %v, want false: containers opt in with traefik.enable", docker["exposedByDefault"])
	}
	if docker["watch"] != true {
		fail("providers.docker.watch %v, want true: new backend containers must be picked up", docker["watch"])
	}
	if docker["endpoint"] != "unix:///var/run/docker.sock" {
		fail("providers.docker.endpoint %v, want the mounted socket unix:///var/run/docker.sock", docker["endpoint"])
	}
	if want := naming.Name("edge"); docker["network"] != want {
		fail("providers.docker.network %v, want the edge network %q", docker["network"], want)
	}
	constraint, _ := docker["constraints"].(string)
	if labels, err := parseLabelConstraint(constraint); err != nil {
		fail("providers.docker.constraints: %v", err)
	} else if !reflect.DeepEqual(labels, naming.Labels) {
		fail("providers.docker.constraints select %v, want this deployment's labels %v", labels, naming.Labels)
	}

	if got := at(doc, "log.level"); got != s.LogLevel {
		fail("log.level %v, the profile says %s", got, s.LogLevel)
	}
	if _, on := doc["accessLog"]; on != s.AccessLog {
		fail("accessLog present: %v, the profile says %v", on, s.AccessLog)
	}
	return errors.Join(problems...)
}

// --- rules and constraints --------------------------------------------------

// ruleToken is one token of a Traefik rule or constraint expression.
type ruleToken struct {
	kind  byte // 'i' identifier, 's' string, or the operator's first byte
	text  string
	start int
}

func tokenizeRule(rule string) ([]ruleToken, error) {
	var out []ruleToken
	for i := 0; i < len(rule); {
		c := rule[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case strings.HasPrefix(rule[i:], "&&") || strings.HasPrefix(rule[i:], "||"):
			out = append(out, ruleToken{c, rule[i : i+2], i})
			i += 2
		case c == '!' || c == '(' || c == ')' || c == ',':
			out = append(out, ruleToken{c, string(c), i})
			i++
		case c == '`':
			j := strings.IndexByte(rule[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ` at %d", i)
			}
			out = append(out, ruleToken{'s', rule[i+1 : i+1+j], i})
			i += j + 2
		case c == '"':
			j := i + 1
			for j < len(rule) && rule[j] != '"' {
				if rule[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rule) {
				return nil, fmt.Errorf("unterminated \" at %d", i)
			}
			s, err := strconv.Unquote(rule[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad string at %d: %v", i, err)
			}
			out = append(out, ruleToken{'s', s, i})
			i = j + 1
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i
			for j < len(rule) && (rule[j] >= 'A' && rule[j] <= 'Z' || rule[j] >= 'a' && rule[j] <= 'z' || rule[j] >= '0' && rule[j] <= '9') {
				j++
			}
			out = append(out, ruleToken{'i', rule[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

// ruleMatcher is one call in a rule: Host(`example.com`).
type ruleMatcher struct {
	name string
	args []string
}

// parseRuleExpression reads matchers joined by &&, || and !, with
// parentheses, and returns the matchers and whether only && joins them.
func parseRuleExpression(rule string) ([]ruleMatcher, bool, error) {
	toks, err := tokenizeRule(rule)
	if err != nil {
		return nil, false, err
	}
	var matchers []ruleMatcher
	onlyAnd := true
	pos := 0
	next := func() *ruleToken {
		if pos < len(toks) {
			return &toks[pos]
		}
		return nil
	}
	var expr, term func() error
	term = func() error {
		tok := next()
		switch {
		case tok == nil:
			return errors.New("the rule ends where a matcher is expected")
		case tok.kind == '!':
			onlyAnd = false
			pos++
			return term()
		case tok.kind == '(':
			pos++
			if err := expr(); err != nil {
				return err
			}
			if t := next(); t == nil || t.kind != ')' {
				return fmt.Errorf("unclosed ( at %d", tok.start)
			}
			pos++
			return nil
		case tok.kind == 'i':
			m := ruleMatcher{name: tok.text}
			pos++
			if t := next(); t == nil || t.kind != '(' {
				return fmt.Errorf("%s at %d is not followed by (", tok.text, tok.start)
			}
			pos++
			for {
				t := next()
				if t != nil && t.kind == ')' && len(m.args) == 0 {
					break
				}
				if t == nil || t.kind != 's' {
					return fmt.Errorf("%s: expected a quoted argument at %d", m.name, tok.start)
				}
				m.args = append(m.args, t.text)
				pos++
				if t := next(); t != nil && t.kind == ',' {
					pos++
					continue
				}
				break
			}
			if t := next(); t == nil || t.kind != ')' {
				return fmt.Errorf("%s: unclosed argument list at %d", m.name, tok.start)
			}
			pos++
			matchers = append(matchers, m)
			return nil
		}
		return fmt.Errorf("unexpected %q at %d", tok.text, tok.start)
	}
	expr = func() error {
		if err := term(); err != nil {
			return err
		}
		for {
			t := next()
			if t == nil || (t.kind != '&' && t.kind != '|') {
				return nil
			}
			onlyAnd = onlyAnd && t.kind == '&'
			pos++
			if err := term(); err != nil {
				return err
			}
		}
	}
	if err := expr(); err != nil {
		return nil, false, err
	}
	if pos != len(toks) {
		return nil, false, fmt.Errorf("unexpected %q at %d", toks[pos].text, toks[pos].start)
	}
	return matchers, onlyAnd, nil
}

// traefikV3Matchers are the HTTP rule matchers of Traefik v3 and the numbers
// of arguments each takes (pkg/muxer/http/matcher.go). v2's multi-argument
// Host(`a`, `b`), HostHeader and Headers are gone.
var traefikV3Matchers = map[string][]int{
	"ClientIP": {1}, "Method": {1}, "Host": {1}, "HostRegexp": {1}, "Path": {1}, "PathRegexp": {1}, "PathPrefix": {1},
	"Header": {2}, "HeaderRegexp": {2}, "Query": {1, 2}, "QueryRegexp": {1, 2},
}

// checkRule reports a router rule Traefik v3 would refuse.
func checkRule(rule string) error {
	matchers, _, err := parseRuleExpression(rule)
	if err != nil {
		return err
	}
	for _, m := range matchers {
		counts, ok := traefikV3Matchers[m.name]
		if !ok {
			return fmt.Errorf("%s is not a Traefik v3 matcher (known: %s)", m.name, strings.Join(sortedNames(traefikV3Matchers), ", "))
		}
		if !slices.Contains(counts, len(m.args)) {
			return fmt.Errorf("%s takes %v arguments in Traefik v3, not %d (%q)", m.name, counts, len(m.args), m.args)
		}
		switch m.name {
		case "Path", "PathPrefix":
			if !strings.HasPrefix(m.args[0], "/") {
				return fmt.Errorf("%s(`%s`): the path must start with /", m.name, m.args[0])
			}
		case "HostRegexp", "PathRegexp":
			if _, err := regexp.Compile(m.args[0]); err != nil {
				return fmt.Errorf("%s: %v", m.name, err)
			}
		}
	}
	return nil
}

// parseLabelConstraint reads a Docker provider constraint made of
// Label(`key`, `value`) matchers joined by &&, as a label set.
func parseLabelConstraint(expr string) (map[string]string, error) {
	matchers, onlyAnd, err := parseRuleExpression(expr)
	if err != nil {
		return nil, err
	}
	if !onlyAnd {
		return nil, fmt.Errorf("%q: only Label matchers joined by && are understood here", expr)
	}
	out := map[string]string{}
	for _, m := range matchers {
		if m.name != "Label" || len(m.args) != 2 {
			return nil, fmt.Errorf("%q: %s(%d arguments) is not Label(`key`, `value`)", expr, m.name, len(m.args))
		}
		out[m.args[0]] = m.args[1]
	}
	return out, nil
}

// --- the dynamic configuration the labels describe ---------------------------

// labeledContainer is a container as Traefik's Docker provider sees it.
type labeledContainer struct {
	name     string
	labels   map[string]string
	networks []string
}

func labeledContainers(r *run) []labeledContainer {
	var out []labeledContainer
	for _, reg := range r.all(typeContainer) {
		out = append(out, labeledContainer{name: reg.str("name"), labels: reg.labels(), networks: reg.networks()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// setPath sets a value in a tree of maps, creating the maps on its way.
func setPath(tree map[string]any, path []string, v any) error {
	for i, key := range path[:len(path)-1] {
		next, ok := tree[key]
		if !ok {
			next = map[string]any{}
			tree[key] = next
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is both a value and an object", strings.Join(path[:i+1], "."))
		}
		tree = m
	}
	last := path[len(path)-1]
	if _, dup := tree[last]; dup {
		return fmt.Errorf("%s is set twice", strings.Join(path, "."))
	}
	tree[last] = v
	return nil
}

// labelValue converts a label's text to the type the schema wants there:
// numbers and booleans parsed, lists comma-separated, and "true" for an
// option that is an object (tls=true: TLS with its defaults).
func (s *traefikSchema) labelValue(node map[string]any, text string) (any, error) {
	types := s.types(node)
	switch {
	case slices.Contains(types, "string"):
		return text, nil
	case slices.Contains(types, "integer"):
		n, err := strconv.Atoi(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		return n, nil
	case slices.Contains(types, "number"):
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return f, nil
	case slices.Contains(types, "boolean"):
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", text)
		}
		return b, nil
	case slices.Contains(types, "array"):
		var out []any
		for _, part := range strings.Split(text, ",") {
			v, err := s.labelValue(s.items(node), strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case slices.Contains(types, "object"):
		if text != "true" {
			return nil, fmt.Errorf("%q: an object option takes only \"true\" (its defaults) as a value", text)
		}
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("the schema gives no type for %q", text)
}

// dynamicFromLabels builds the dynamic configuration that Traefik's Docker
// provider builds from the containers' labels: the traefik.http.* labels of
// every opted-in container, each label path resolved against the schema
// the way Traefik resolves it against its model (case-insensitively; an
// unknown option is an error, never dropped), loadbalancer.server.port
// turned into the server URL the provider makes, and the routers, services
// and middlewares of all containers merged by name.
func dynamicFromLabels(s *traefikSchema, containers []labeledContainer) (map[string]any, error) {
	_, httpNode, err := s.option(s.doc, "http", false)
	if err != nil {
		return nil, err
	}
	merged := map[string]map[string]any{}
	definedBy := map[string]string{}
	var problems []error
	for _, c := range containers {
		fail := func(format string, args ...any) {
			problems = append(problems, fmt.Errorf("container %s: %s", c.name, fmt.Sprintf(format, args...)))
		}
		var httpLabels []string
		for _, k := range sortedNames(c.labels) {
			switch {
			case !strings.HasPrefix(k, "traefik."), k == "traefik.enable", k == "traefik.docker.network":
			case strings.HasPrefix(k, "traefik.http."):
				httpLabels = append(httpLabels, k)
			default:
				fail("label %s is not one this check knows (traefik.enable, traefik.docker.network, traefik.http.*)", k)
			}
		}
		enabled := c.labels["traefik.enable"]
		if len(httpLabels) == 0 {
			if enabled == "true" {
				fail("traefik.enable=true without routes: Traefik would make it a default router")
			}
			continue
		}
		if enabled != "true" {
			fail("has traefik.http labels but traefik.enable is %q: the provider (exposedByDefault false) ignores them", enabled)
			continue
		}

		own := map[string]any{}
		servers := map[string]map[string]string{} // service -> server.port, server.scheme
	labels:
		for _, k := range httpLabels {
			segs := strings.Split(strings.TrimPrefix(k, "traefik.http."), ".")
			if len(segs) < 3 {
				fail("label %s names no option", k)
				continue
			}
			kind, kindNode, err := s.option(httpNode, segs[0], true)
			if err != nil {
				fail("label %s: %v", k, err)
				continue
			}
			_, node, err := s.option(kindNode, segs[1], true)
			if err != nil {
				fail("label %s: %v", k, err)
				continue
			}
			path := []string{kind, segs[1]}
			rest := segs[2:]
			for i, seg := range rest {
				// The Docker provider's own: loadbalancer.server.port and
				// .scheme become the URL of the container as a server.
				if kind == "services" && path[len(path)-1] == "loadBalancer" && strings.EqualFold(seg, "server") {
					if i != len(rest)-2 || !slices.Contains([]string{"port", "scheme"}, strings.ToLower(rest[i+1])) {
						fail("label %s: the Docker provider knows loadbalancer.server.port and loadbalancer.server.scheme", k)
						continue labels
					}
					if servers[segs[1]] == nil {
						servers[segs[1]] = map[string]string{}
					}
					servers[segs[1]][strings.ToLower(rest[i+1])] = c.labels[k]
					continue labels
				}
				name, child, err := s.option(node, seg, true)
				if err != nil {
					fail("label %s: %v", k, err)
					continue labels
				}
				path, node = append(path, name), child
			}
			v, err := s.labelValue(node, c.labels[k])
			if err != nil {
				fail("label %s: %v", k, err)
				continue
			}
			if err := setPath(own, path, v); err != nil {
				fail("label %s: %v", k, err)
			}
		}
		for _, svc := range sortedNames(servers) {
			port, err := strconv.Atoi(servers[svc]["port"])
			if err != nil || port < 1 || port > 65535 {
				fail("service %s: loadbalancer.server.port %q is not a port", svc, servers[svc]["port"])
				continue
			}
			scheme := servers[svc]["scheme"]
			if scheme == "" {
				scheme = "http"
			}
			url := fmt.Sprintf("%s://%s:%d", scheme, c.name, port)
			if err := setPath(own, []string{"services", svc, "loadBalancer", "servers"}, []any{map[string]any{"url": url}}); err != nil {
				fail("service %s: %v", svc, err)
			}
		}

		// Merge: a router or middleware defined by several containers must be
		// the same everywhere (Traefik drops it otherwise); a service's
		// containers each add a server.
		for _, kind := range sortedNames(own) {
			objs := asMap(own[kind])
			if merged[kind] == nil {
				merged[kind] = map[string]any{}
			}
			for _, name := range sortedNames(objs) {
				obj := asMap(objs[name])
				prev, seen := merged[kind][name]
				if !seen {
					merged[kind][name] = obj
					definedBy[kind+"/"+name] = c.name
					continue
				}
				if kind != "services" {
					if !reflect.DeepEqual(prev, obj) {
						fail("%s %s differs from its definition on %s", kind, name, definedBy[kind+"/"+name])
					}
					continue
				}
				a, b := withoutServers(asMap(prev)), withoutServers(obj)
				if !reflect.DeepEqual(a, b) {
					fail("service %s differs from its definition on %s", name, definedBy[kind+"/"+name])
					continue
				}
				lb := asMap(asMap(prev)["loadBalancer"])
				lb["servers"] = append(asSlice(lb["servers"]), asSlice(asMap(obj["loadBalancer"])["servers"])...)
			}
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	httpConf := map[string]any{}
	for kind, objs := range merged {
		httpConf[kind] = objs
	}
	return map[string]any{"http": httpConf}, nil
}

// withoutServers is a service's definition without its servers (deep copy
// through JSON).
func withoutServers(svc map[string]any) map[string]any {
	raw, _ := json.Marshal(svc)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if lb := asMap(out["loadBalancer"]); lb != nil {
		delete(lb, "servers")
	}
	return out
}

// checkDynamicReferences reports what the schema cannot: a router whose
// service, middleware or entrypoint does not exist, a rule Traefik v3
// refuses, a healthcheck duration Traefik cannot read.
func checkDynamicReferences(dyn, static map[string]any) error {
	var problems []error
	fail := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	httpConf := asMap(dyn["http"])
	routers, services, middlewares := asMap(httpConf["routers"]), asMap(httpConf["services"]), asMap(httpConf["middlewares"])
	entryPoints := asMap(static["entryPoints"])
	if len(routers) == 0 {
		fail("no routers: nothing reaches the site")
	}
	// A name may carry its provider: name@docker is this one's.
	local := func(ref string) (string, bool) {
		name, provider, qualified := strings.Cut(ref, "@")
		return name, !qualified || provider == "docker"
	}
	for _, name := range sortedNames(routers) {
		r := asMap(routers[name])
		svc, _ := r["service"].(string)
		if n, ok := local(svc); !ok || services[n] == nil {
			fail("router %s: service %q does not exist (services: %v)", name, svc, sortedNames(services))
		}
		for _, m := range asSlice(r["middlewares"]) {
			if n, ok := local(fmt.Sprint(m)); !ok || middlewares[n] == nil {
				fail("router %s: middleware %q does not exist (middlewares: %v)", name, m, sortedNames(middlewares))
			}
		}
		eps := asSlice(r["entryPoints"])
		if len(eps) == 0 {
			fail("router %s: no entryPoints: it would listen on every entrypoint, metrics included", name)
		}
		for _, ep := range eps {
			if entryPoints[fmt.Sprint(ep)] == nil {
				fail("router %s: entrypoint %q is not in the static configuration (entrypoints: %v)", name, ep, sortedNames(entryPoints))
			}
		}
		rule, _ := r["rule"].(string)
		if err := checkRule(rule); err != nil {
			fail("router %s: rule %q: %v", name, rule, err)
		}
	}
	for _, name := range sortedNames(services) {
		hc := asMap(at(services[name], "loadBalancer.healthCheck"))
		if hc == nil {
			continue
		}
		var interval, timeout time.Duration
		for key, dst := range map[string]*time.Duration{"interval": &interval, "timeout": &timeout} {
			if raw, set := hc[key]; set {
				d, err := time.ParseDuration(fmt.Sprint(raw))
				if err != nil {
					fail("service %s: healthCheck.%s %q is not a duration Traefik reads (time.ParseDuration)", name, key, raw)
				}
				*dst = d
			}
		}
		if interval != 0 && timeout != 0 && interval <= timeout {
			fail("service %s: healthCheck interval %s is not longer than its timeout %s (Traefik then uses timeout + 1s)", name, interval, timeout)
		}
	}
	return errors.Join(problems...)
}

// checkTraefikSeesContainers reports opted-in containers that the static
// configuration's Docker provider would not see or could not reach: each
// must carry the constraint's labels and join the provider's network.
func checkTraefikSeesContainers(static map[string]any, containers []labeledContainer) error {
	docker := asMap(at(static, "providers.docker"))
	want, err := parseLabelConstraint(fmt.Sprint(docker["constraints"]))
	if err != nil {
		return err
	}
	var problems []error
	for _, c := range containers {
		if c.labels["traefik.enable"] != "true" {
			continue
		}
		for k, v := range want {
			if c.labels[k] != v {
				problems = append(problems, fmt.Errorf("container %s: label %s=%q, the provider's constraint wants %q", c.name, k, c.labels[k], v))
			}
		}
		if !slices.Contains(c.networks, fmt.Sprint(docker["network"])) {
			problems = append(problems, fmt.Errorf("container %s: not on the provider's network %v (on %v)", c.name, docker["network"], c.networks))
		}
	}
	return errors.Join(problems...)
}

// traefikOf returns a stack's rendered traefik.yml, checked to be the
// profile's render, and the container ports Traefik publishes.
func traefikOf(t *testing.T, st shippedStack) (string, []int) {
	t.Helper()
	tr := st.run.container("traefik")
	shipped, _, ok := tr.upload("/etc/traefik/traefik.yml")
	if !ok {
		t.Fatal("traefik gets no /etc/traefik/traefik.yml")
	}
	naming := components.NewNaming(project, st.name)
	want := components.RenderTraefikStatic(st.profile.Traefik, components.TraefikEnvironment{
		Network: naming.Name("edge"), Labels: naming.Labels, TLS: st.profile.TLS,
	})
	if shipped != want {
		t.Fatalf("the shipped traefik.yml is not the profile's render:\n%s\nwant:\n%s", shipped, want)
	}
	var published []int
	for _, p := range asSlice(tr.input("ports")) {
		internal, _ := asMap(p)["internal"].(float64)
		published = append(published, int(internal))
	}
	return shipped, published
}

func TestTraefikStaticConfigurationValidatesAgainstTheV3Schema(t *testing.T) {
	t.Parallel()
	static, _ := traefikSchemas(t)
	forEachShippedStack(t, func(t *testing.T, st shippedStack) {
		text, published := traefikOf(t, st)
		doc, err := parseTraefikStatic(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := static.check(doc); err != nil {
			t.Errorf("stack %s: traefik.yml is not valid Traefik v3:\n%v", st.name, err)
		}
		if err := checkTraefikStaticValues(doc, st.profile, components.NewNaming(project, st.name), published); err != nil {
			t.Errorf("stack %s: traefik.yml does not hold the profile's values:\n%v", st.name, err)
		}
	})
}

func TestTraefikLabelsValidateAgainstTheV3Schema(t *testing.T) {
	t.Parallel()
	_, dynamic := traefikSchemas(t)
	forEachShippedStack(t, func(t *testing.T, st shippedStack) {
		text, _ := traefikOf(t, st)
		static, err := parseTraefikStatic(text)
		if err != nil {
			t.Fatal(err)
		}
		containers := labeledContainers(st.run)
		dyn, err := dynamicFromLabels(dynamic, containers)
		if err != nil {
			t.Fatalf("stack %s: the labels do not describe a Traefik v3 configuration:\n%v", st.name, err)
		}
		if err := dynamic.check(dyn); err != nil {
			t.Errorf("stack %s: the labels' configuration is not valid Traefik v3:\n%v", st.name, err)
		}
		if err := checkDynamicReferences(dyn, static); err != nil {
			t.Errorf("stack %s: %v", st.name, err)
		}
		if err := checkTraefikSeesContainers(static, containers); err != nil {
			t.Errorf("stack %s: %v", st.name, err)
		}

		// The backend's service is every replica, probed as the profile says.
		p, naming := st.profile, components.NewNaming(project, st.name)
		svc := at(dyn, "http.services."+naming.Name("backend")+".loadBalancer")
		var urls []string
		for _, s := range asSlice(at(svc, "servers")) {
			urls = append(urls, fmt.Sprint(asMap(s)["url"]))
		}
		var want []string
		for i := range p.Backend.Replicas {
			want = append(want, fmt.Sprintf("http://%s:%d", naming.Name(fmt.Sprintf("backend-%d", i+1)), p.Backend.Port))
		}
		if !reflect.DeepEqual(urls, want) {
			t.Errorf("stack %s: the backend service's servers are %v, want one per replica %v", st.name, urls, want)
		}
		hc := asMap(at(svc, "healthCheck"))
		wantHC := map[string]any{
			"path":     p.Backend.HealthPath,
			"interval": time.Duration(p.Backend.Healthcheck.Interval).String(),
			"timeout":  time.Duration(p.Backend.Healthcheck.Timeout).String(),
			"hostname": p.Domains[0],
			"headers":  map[string]any{"X-Forwarded-Proto": p.Site().Scheme()},
		}
		for k, v := range wantHC {
			got := hc[k]
			if d, err := time.ParseDuration(fmt.Sprint(got)); err == nil && (k == "interval" || k == "timeout") {
				got = d.String()
			}
			if !reflect.DeepEqual(got, v) {
				t.Errorf("stack %s: the backend's healthCheck.%s is %v, the profile says %v", st.name, k, hc[k], v)
			}
		}
		t.Logf("stack %s: %d routers, %d services, %d middlewares", st.name,
			len(asMap(at(dyn, "http.routers"))), len(asMap(at(dyn, "http.services"))), len(asMap(at(dyn, "http.middlewares"))))
	})
}

// The checks must be able to fail: a broken render fails them.
func TestTraefikChecksFailOnABrokenRender(t *testing.T) {
	t.Parallel()
	static, dynamic := traefikSchemas(t)
	st := loadShippedStack(t, "production")
	text, published := traefikOf(t, st)
	naming := components.NewNaming(project, st.name)

	replaceFirst := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("the mutation expects %q in:\n%s", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
	for _, tc := range []struct {
		name, broken, want string
	}{
		{"misspelt option in a closed object", replaceFirst(text, "maxConcurrentStreams:", "maxConcurrentStream:"), `"maxConcurrentStream" is not a Traefik v3 option`},
		{"misspelt top-level option (the schema leaves the root open)", replaceFirst(text, "\nping:", "\npings:"), `"pings" is not a Traefik v3 option`},
		// v2's providers.docker.swarmMode is v3's providers.swarm.
		{"v2 option that v3 moved", replaceFirst(text, "  docker:\n", "  docker:\n    swarmMode: false\n"), `"swarmMode" is not a Traefik v3 option`},
		{"value of the wrong type", replaceFirst(text, "exposedByDefault: false", "exposedByDefault: \"no\""), "exposedByDefault"},
	} {
		doc, err := parseTraefikStatic(tc.broken)
		if err != nil {
			t.Fatal(err)
		}
		if err := static.check(doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("static, %s: %v\nwant a failure mentioning %q", tc.name, err, tc.want)
		}
	}
	// Values the schema accepts but the profile does not say.
	doc, _ := parseTraefikStatic(replaceFirst(replaceFirst(text, "idleTimeout: 180s", "idleTimeout: 3m1s"), "ping:\n  entryPoint: metrics", "ping:\n  entryPoint: web"))
	if err := static.check(doc); err != nil {
		t.Fatalf("the value mutation should still be valid Traefik: %v", err)
	}
	if err := checkTraefikStaticValues(doc, st.profile, naming, published); err == nil || !strings.Contains(err.Error(), "idleTimeout") || !strings.Contains(err.Error(), "ping.entryPoint") {
		t.Errorf("static values: %v\nwant idleTimeout and ping.entryPoint reported", err)
	}
	doc, _ = parseTraefikStatic(replaceFirst(text, "idleTimeout: 180s", "idleTimeout: 1d"))
	if err := checkTraefikStaticValues(doc, st.profile, naming, published); err == nil || !strings.Contains(err.Error(), "not a duration Traefik reads") {
		t.Errorf("static, idleTimeout 1d: %v\nwant it refused as a duration Traefik cannot read", err)
	}

	staticDoc, err := parseTraefikStatic(text)
	if err != nil {
		t.Fatal(err)
	}
	backend := "traefik.http.routers." + naming.Name("backend") + "."
	service := "traefik.http.services." + naming.Name("backend") + ".loadbalancer."
	for _, tc := range []struct {
		name    string
		mutate  func(labels map[string]string)
		stage   string // where it must fail: labels, schema or references
		wantErr string
	}{
		{"misspelt option", func(l map[string]string) { l[service+"healthcheck.intervall"] = l[service+"healthcheck.interval"] }, "labels", `"intervall" is not a Traefik v3 option`},
		{"priority not a number", func(l map[string]string) { l[backend+"priority"] = "high" }, "labels", `"high" is not an integer`},
		{"negative priority", func(l map[string]string) { l[backend+"priority"] = "-1" }, "schema", "priority"},
		{"router to a missing service", func(l map[string]string) { l[backend+"service"] = "nowhere" }, "references", `service "nowhere" does not exist`},
		{"router on a missing entrypoint", func(l map[string]string) { l[backend+"entrypoints"] = "webscure" }, "references", `entrypoint "webscure" is not in the static configuration`},
		{"router with a missing middleware", func(l map[string]string) { l[backend+"middlewares"] = "compress" }, "references", `middleware "compress" does not exist`},
		{"v2 rule syntax", func(l map[string]string) { l[backend+"rule"] = "Host(`example.com`, `www.example.com`)" }, "references", "Host takes [1] arguments in Traefik v3, not 2"},
		{"healthcheck duration Go cannot read", func(l map[string]string) { l[service+"healthcheck.interval"] = "1d" }, "references", "not a duration Traefik reads"},
		{"routes without traefik.enable", func(l map[string]string) { delete(l, "traefik.enable") }, "labels", "traefik.enable is"},
	} {
		// The mutation applies to every backend replica alike, as a broken
		// render of the backend's route would.
		containers := labeledContainers(st.run)
		mutated := 0
		for i, c := range containers {
			if _, backendRoute := c.labels[backend+"rule"]; !backendRoute {
				continue
			}
			labels := maps.Clone(c.labels)
			tc.mutate(labels)
			containers[i].labels = labels
			if !reflect.DeepEqual(labels, c.labels) {
				mutated++
			}
		}
		if mutated != st.profile.Backend.Replicas {
			t.Fatalf("%s: the mutation changed %d containers' labels, want the %d backends'", tc.name, mutated, st.profile.Backend.Replicas)
		}
		var err error
		stage := "labels"
		dyn, err := dynamicFromLabels(dynamic, containers)
		if err == nil {
			stage, err = "schema", dynamic.check(dyn)
		}
		if err == nil {
			stage, err = "references", checkDynamicReferences(dyn, staticDoc)
		}
		if err == nil || stage != tc.stage || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("labels, %s: failed at %s with %v\nwant a failure at %s mentioning %q", tc.name, stage, err, tc.stage, tc.wantErr)
		}
	}
}
