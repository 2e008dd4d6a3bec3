package tests

// The dynamic configuration that Traefik's Docker provider builds from the
// containers' traefik.http.* labels, and the references in it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
func setTreePath(tree map[string]any, path []string, v any) error {
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
		for _, k := range slices.Sorted(maps.Keys(c.labels)) {
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
			if err := setTreePath(own, path, v); err != nil {
				fail("label %s: %v", k, err)
			}
		}
		for _, svc := range slices.Sorted(maps.Keys(servers)) {
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
			if err := setTreePath(own, []string{"services", svc, "loadBalancer", "servers"}, []any{map[string]any{"url": url}}); err != nil {
				fail("service %s: %v", svc, err)
			}
		}

		// Merge: a router or middleware defined by several containers must be
		// the same everywhere (Traefik drops it otherwise); a service's
		// containers each add a server.
		for _, kind := range slices.Sorted(maps.Keys(own)) {
			objs := asMap(own[kind])
			if merged[kind] == nil {
				merged[kind] = map[string]any{}
			}
			for _, name := range slices.Sorted(maps.Keys(objs)) {
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
func checkDynamicReferences(dyn, files, static map[string]any) error {
	var problems []error
	fail := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	httpConf := asMap(dyn["http"])
	routers, services, middlewares := asMap(httpConf["routers"]), asMap(httpConf["services"]), asMap(httpConf["middlewares"])
	// name@file is defined in the file provider's configuration, which the
	// static configuration must load.
	fileMiddlewares := asMap(at(files, "http.middlewares"))
	if at(static, "providers.file.filename") == nil {
		fileMiddlewares = nil
	}
	entryPoints := asMap(static["entryPoints"])
	if len(routers) == 0 {
		fail("no routers: nothing reaches the site")
	}
	// A name may carry its provider: name@docker is this one's.
	local := func(ref string) (string, bool) {
		name, provider, qualified := strings.Cut(ref, "@")
		return name, !qualified || provider == "docker"
	}
	for _, name := range slices.Sorted(maps.Keys(routers)) {
		r := asMap(routers[name])
		svc, _ := r["service"].(string)
		if n, ok := local(svc); !ok || services[n] == nil {
			fail("router %s: service %q does not exist (services: %v)", name, svc, slices.Sorted(maps.Keys(services)))
		}
		for _, m := range asSlice(r["middlewares"]) {
			if n, provider, _ := strings.Cut(fmt.Sprint(m), "@"); provider == "file" {
				if fileMiddlewares[n] == nil {
					fail("router %s: middleware %q does not exist in the file provider's configuration (middlewares: %v)", name, m, slices.Sorted(maps.Keys(fileMiddlewares)))
				}
			} else if n, ok := local(fmt.Sprint(m)); !ok || middlewares[n] == nil {
				fail("router %s: middleware %q does not exist (middlewares: %v)", name, m, slices.Sorted(maps.Keys(middlewares)))
			}
		}
		eps := asSlice(r["entryPoints"])
		if len(eps) == 0 {
			fail("router %s: no entryPoints: it would listen on every entrypoint, metrics included", name)
		}
		for _, ep := range eps {
			if entryPoints[fmt.Sprint(ep)] == nil {
				fail("router %s: entrypoint %q is not in the static configuration (entrypoints: %v)", name, ep, slices.Sorted(maps.Keys(entryPoints)))
			}
		}
		rule, _ := r["rule"].(string)
		if err := checkRule(rule); err != nil {
			fail("router %s: rule %q: %v", name, rule, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
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
