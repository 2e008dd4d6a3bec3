package tests

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// traefikStatic is the traefik.yml a run gives its Traefik, parsed.
func traefikStatic(t *testing.T, r *run) map[string]any {
	t.Helper()
	return traefikUpload(t, r, "/etc/traefik/traefik.yml")
}

// traefikDynamic is the dynamic.yml a run gives its Traefik, parsed.
func traefikDynamic(t *testing.T, r *run) map[string]any {
	t.Helper()
	return traefikUpload(t, r, "/etc/traefik/dynamic.yml")
}

func traefikUpload(t *testing.T, r *run, path string) map[string]any {
	t.Helper()
	content, _, ok := r.container("traefik").upload(path)
	if !ok {
		t.Fatalf("traefik gets no %s", path)
	}
	return parseYAML(t, content)
}

func parseYAML(t *testing.T, content string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, content)
	}
	return doc
}

// at walks a decoded YAML document along a dotted path.
func at(doc any, path string) any {
	for _, part := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[part]
	}
	return doc
}

func TestTraefikStaticConfigurationCarriesTheGuide(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	doc := traefikStatic(t, r)
	want := map[string]any{
		"entryPoints.websecure.address":                                   ":443",
		"entryPoints.websecure.http2.maxConcurrentStreams":                250,
		"entryPoints.websecure.transport.respondingTimeouts.readTimeout":  "60s",
		"entryPoints.websecure.transport.respondingTimeouts.writeTimeout": "60s",
		"entryPoints.websecure.transport.respondingTimeouts.idleTimeout":  "180s",
		"entryPoints.web.address":                                         ":80",
		"entryPoints.web.http2.maxConcurrentStreams":                      250,
		"entryPoints.web.transport.respondingTimeouts.idleTimeout":        "180s",
		"entryPoints.metrics.address":                                     ":8082",
		"metrics.prometheus.entryPoint":                                   "metrics",
		"metrics.prometheus.buckets":                                      []any{0.1, 0.3, 1.2, 5.0},
		"ping.entryPoint":                                                 "metrics",
		"providers.docker.exposedByDefault":                               false,
		"providers.docker.network":                                        "django-stack-production-edge",
		"providers.docker.endpoint":                                       "tcp://django-stack-production-docker-api:2375",
		"providers.docker.constraints":                                    "Label(`djangostack.project`, `django-stack`) && Label(`djangostack.stack`, `production`)",
		"accessLog":                                                       map[string]any{},
		// A stopped backend leaves the routes at once, and a connection to
		// an address that is gone fails after 2 s, then is retried.
		"providers.providersThrottleDuration":             "0s",
		"serversTransport.forwardingTimeouts.dialTimeout": "2s",
		// No call of its own to the internet: no daily check for a new
		// version (the image is pinned), no usage statistics.
		"global.checkNewVersion":    false,
		"global.sendAnonymousUsage": false,
	}
	for path, v := range want {
		if got := at(doc, path); !reflect.DeepEqual(numbersAsFloats(got), numbersAsFloats(v)) {
			t.Errorf("traefik.yml %s = %#v, want %#v", path, got, v)
		}
	}
	// Retries outlast that: 4 tries, waiting at least 0.5 s (less jitter)
	// before each of the last three.
	retry := at(traefikDynamic(t, r), "http.middlewares.retry.retry")
	if want := map[string]any{"attempts": 4, "initialInterval": "500ms"}; !reflect.DeepEqual(numbersAsFloats(retry), numbersAsFloats(want)) {
		t.Errorf("dynamic.yml retry = %#v, want %#v", retry, want)
	}
}

func TestTraefikContainer(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	tr := r.container("traefik")
	if img := r.get(typeRemoteImage, "traefik-image"); img.str("name") != "traefik:v3.5" {
		t.Errorf("traefik image = %q, want a pinned v3", img.str("name"))
	}
	var published []float64
	for _, p := range asSlice(tr.input("ports")) {
		published = append(published, asMap(p)["external"].(float64))
		if asMap(p)["internal"] == 8082.0 {
			t.Errorf("the metrics entrypoint is published")
		}
	}
	if !reflect.DeepEqual(published, []float64{80, 443}) {
		t.Errorf("traefik publishes %v, want 80 and 443", published)
	}
	// The Docker API only through its proxy, which alone mounts the
	// socket and shares a network with Traefik alone.
	for _, c := range r.all(typeContainer) {
		socket := false
		for _, v := range asSlice(c.input("volumes")) {
			if m := asMap(v); m["hostPath"] == "/var/run/docker.sock" {
				socket = m["readOnly"] == true && m["containerPath"] == "/var/run/docker.sock"
			}
		}
		if socket != (c.Name == "traefik-docker-api") {
			t.Errorf("%s mounts the Docker socket: %v; want the proxy alone, read-only", c.Name, socket)
		}
	}
	if got := tr.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-docker-api-net", "django-stack-production-edge"}) {
		t.Errorf("traefik networks = %v, want edge and the Docker API's", got)
	}
	api := r.container("traefik-docker-api")
	if env, _ := api.env(); env["POST"] != "0" || env["CONTAINERS"] != "1" || env["EXEC"] != "" || env["IMAGES"] != "" {
		t.Errorf("the Docker API proxy lets through %v, want reads of containers only", env)
	}
	assertRuntime(t, "traefik", tr, guideRuntime{
		cpus: "1.0", memoryMiB: 256, reservationMiB: 64, cpuShares: 256,
		interval: "10s", timeout: "5s", startPeriod: "10s", retries: 3,
		healthTest: []string{"CMD", "traefik", "healthcheck", "--ping"},
	})
}

func TestLocalTraefikServesPlainHTTPOnly(t *testing.T) {
	r := deployOK(t, "local", localConfig(t))
	doc := traefikStatic(t, r)
	if at(doc, "entryPoints.websecure") != nil {
		t.Errorf("local has a websecure entrypoint")
	}
	var published []float64
	for _, p := range asSlice(r.container("traefik").input("ports")) {
		published = append(published, asMap(p)["external"].(float64))
	}
	if !reflect.DeepEqual(published, []float64{8080}) {
		t.Errorf("local traefik publishes %v, want 8080 only", published)
	}
	labels := r.container("backend-1").labels()
	if labels["traefik.http.routers.django-stack-local-backend.entrypoints"] != "web" {
		t.Errorf("local backend router entrypoints = %q, want web", labels["traefik.http.routers.django-stack-local-backend.entrypoints"])
	}
	if _, tls := labels["traefik.http.routers.django-stack-local-backend.tls"]; tls {
		t.Errorf("local backend router has TLS")
	}
}

// numbersAsFloats makes 5 and 5.0 compare equal, as they do to Traefik.
func numbersAsFloats(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbersAsFloats(e)
		}
		return out
	}
	return v
}
