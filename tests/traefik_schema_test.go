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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
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
		for _, k := range slices.Sorted(maps.Keys(d)) {
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
func checkTraefikStaticValues(doc map[string]any, p stacks.Profile, names naming.Naming, publishedPorts []int) error {
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
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		if name == metricsEP {
			continue
		}
		public[port(name)] = true
		if got := at(eps[name], "http2.maxConcurrentStreams"); numbersAsFloats(got) != float64(s.HTTP2MaxConcurrentStreams) {
			fail("entryPoints.%s.http2.maxConcurrentStreams %v, the profile says %d", name, got, s.HTTP2MaxConcurrentStreams)
		}
		for _, tm := range []struct {
			key  string
			want units.Duration
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
	if want := "tcp://" + names.Name("docker-api") + ":2375"; docker["endpoint"] != want {
		fail("providers.docker.endpoint %v, want the Docker API's proxy %s", docker["endpoint"], want)
	}
	// Its own Traefik sees the deployment's containers on its edge network;
	// the host's shared one, every container of the project that joins it,
	// on the project's ingress network.
	wantNetwork, wantLabels := names.Name("edge"), names.Labels
	if s.Ingress == traefik.IngressHost {
		wantNetwork = names.Shared("ingress")
		wantLabels = map[string]string{naming.LabelProject: project, naming.LabelIngress: traefik.IngressHost}
	}
	if docker["network"] != wantNetwork {
		fail("providers.docker.network %v, want %q", docker["network"], wantNetwork)
	}
	constraint, _ := docker["constraints"].(string)
	if labels, err := parseLabelConstraint(constraint); err != nil {
		fail("providers.docker.constraints: %v", err)
	} else if !reflect.DeepEqual(labels, wantLabels) {
		fail("providers.docker.constraints select %v, want %v", labels, wantLabels)
	}

	if got := at(doc, "log.level"); got != s.LogLevel {
		fail("log.level %v, the profile says %s", got, s.LogLevel)
	}
	if _, on := doc["accessLog"]; on != s.AccessLog {
		fail("accessLog present: %v, the profile says %v", on, s.AccessLog)
	}
	return errors.Join(problems...)
}

// traefikFile returns the Traefik configuration file a stack's container
// gets at path, checked to be render's output for the profile.
func traefikFile(t *testing.T, st shippedStack, path string, render func(traefik.Settings, traefik.Environment) string) string {
	t.Helper()
	shipped, _, ok := st.run.container("traefik").upload(path)
	if !ok {
		t.Fatalf("traefik gets no %s", path)
	}
	want := render(st.profile.Traefik, st.run.deployment.Traefik.Environment)
	if shipped != want {
		t.Fatalf("the shipped %s is not the profile's render:\n%s\nwant:\n%s", path, shipped, want)
	}
	return shipped
}

// traefikFileProvider returns a stack's rendered dynamic.yml.
func traefikFileProvider(t *testing.T, st shippedStack) map[string]any {
	return parseYAML(t, traefikFile(t, st, "/etc/traefik/dynamic.yml", traefik.RenderDynamic))
}

// traefikOf returns a stack's rendered traefik.yml, checked to be the
// profile's render, and the container ports Traefik publishes.
func traefikOf(t *testing.T, st shippedStack) (string, []int) {
	t.Helper()
	shipped := traefikFile(t, st, "/etc/traefik/traefik.yml", traefik.RenderStatic)
	tr := st.run.container("traefik")
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
		if err := checkTraefikStaticValues(doc, st.profile, naming.NewNaming(project, st.name), published); err != nil {
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
		files := traefikFileProvider(t, st)
		if err := dynamic.check(files); err != nil {
			t.Errorf("stack %s: dynamic.yml is not valid Traefik v3:\n%v", st.name, err)
		}
		if err := checkDynamicReferences(dyn, files, static); err != nil {
			t.Errorf("stack %s: %v", st.name, err)
		}
		if err := checkTraefikSeesContainers(static, containers); err != nil {
			t.Errorf("stack %s: %v", st.name, err)
		}

		// The backend's service is every replica, probed as the profile says.
		p, names := st.profile, naming.NewNaming(project, st.name)
		svc := at(dyn, "http.services."+names.Name("backend")+".loadBalancer")
		var urls []string
		for _, s := range asSlice(at(svc, "servers")) {
			urls = append(urls, fmt.Sprint(asMap(s)["url"]))
		}
		var want []string
		for _, c := range st.run.backends() {
			want = append(want, fmt.Sprintf("http://%s:%d", c.str("name"), p.Backend.Port))
		}
		sort.Strings(urls)
		sort.Strings(want)
		if len(want) != p.Backend.Replicas {
			t.Errorf("stack %s: %d backend containers, the profile says %d", st.name, len(want), p.Backend.Replicas)
		}
		if !reflect.DeepEqual(urls, want) {
			t.Errorf("stack %s: the backend service's servers are %v, want one per replica %v", st.name, urls, want)
		}
		hc := asMap(at(svc, "healthCheck"))
		wantHC := map[string]any{
			"path":     p.Backend.HealthPath,
			"interval": time.Duration(p.Backend.Probe.Interval).String(),
			"timeout":  time.Duration(p.Backend.Probe.Timeout).String(),
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
	names := naming.NewNaming(project, st.name)

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
	if err := checkTraefikStaticValues(doc, st.profile, names, published); err == nil || !strings.Contains(err.Error(), "idleTimeout") || !strings.Contains(err.Error(), "ping.entryPoint") {
		t.Errorf("static values: %v\nwant idleTimeout and ping.entryPoint reported", err)
	}
	doc, _ = parseTraefikStatic(replaceFirst(text, "idleTimeout: 180s", "idleTimeout: 1d"))
	if err := checkTraefikStaticValues(doc, st.profile, names, published); err == nil || !strings.Contains(err.Error(), "not a duration Traefik reads") {
		t.Errorf("static, idleTimeout 1d: %v\nwant it refused as a duration Traefik cannot read", err)
	}

	staticDoc, err := parseTraefikStatic(text)
	if err != nil {
		t.Fatal(err)
	}
	backend := "traefik.http.routers." + names.Name("backend") + "."
	service := "traefik.http.services." + names.Name("backend") + ".loadbalancer."
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
			stage, err = "references", checkDynamicReferences(dyn, traefikFileProvider(t, st), staticDoc)
		}
		if err == nil || stage != tc.stage || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("labels, %s: failed at %s with %v\nwant a failure at %s mentioning %q", tc.name, stage, err, tc.stage, tc.wantErr)
		}
	}
}
