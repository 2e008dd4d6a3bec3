package tests

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// records lists a run's DNS records as "name type content", and checks that
// each is in the zone, proxied or not as wanted.
func records(r *run, proxied bool) []string {
	var out []string
	for _, rec := range r.all(typeRecord) {
		out = append(out, strings.Join([]string{rec.str("name"), rec.str("type"), rec.str("content")}, " "))
		if rec.input("proxied") != proxied || rec.str("zoneId") != testZoneID || rec.num("ttl") != 1 {
			r.t.Errorf("record %s: proxied %v (want %v), zone %q, ttl %v", rec.Name, rec.input("proxied"), proxied, rec.str("zoneId"), rec.num("ttl"))
		}
	}
	sort.Strings(out)
	return out
}

func TestEdgeRecordsPerStack(t *testing.T) {
	cases := []struct {
		stack   string
		cfg     map[string]any
		proxied bool
		want    []string
	}{
		{"production", withEdge(fixtureConfig(t, "production")), true, []string{
			"example.com A 203.0.113.10", "example.com AAAA 2001:db8::10",
			"www.example.com A 203.0.113.10", "www.example.com AAAA 2001:db8::10",
		}},
		{"staging", withEdge(fixtureConfig(t, "staging")), true, []string{
			"staging.example.com A 203.0.113.10", "staging.example.com AAAA 2001:db8::10",
		}},
		// A clone copies staging's config and gets its own name under it,
		// not proxied: Universal SSL covers one level of subdomain only.
		{"pr-42", withEdge(fixtureConfig(t, "staging")), false, []string{
			"pr-42.staging.example.com A 203.0.113.10", "pr-42.staging.example.com AAAA 2001:db8::10",
		}},
	}
	for _, c := range cases {
		r := deployOK(t, c.stack, c.cfg)
		if got := records(r, c.proxied); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s records = %v\nwant %v", c.stack, got, c.want)
		}
		for _, rec := range r.all(typeRecord) {
			if !strings.Contains(rec.str("comment"), "django-stack-"+c.stack) {
				t.Errorf("%s record %s comment %q does not name the stack", c.stack, rec.Name, rec.str("comment"))
			}
		}
	}
}

func TestZoneSettingsOnlyInProduction(t *testing.T) {
	r := deployOK(t, "production", withEdge(fixtureConfig(t, "production")))
	zones := r.all(typeZoneSettings)
	if len(zones) != 1 {
		t.Fatalf("production has %d zone settings, want 1", len(zones))
	}
	want := map[string]any{
		"ssl":            "strict",
		"alwaysUseHttps": "on",
		"minTlsVersion":  "1.2",
		"tls13":          "on",
		"http3":          "on",
		"brotli":         "on",
		"securityHeader": map[string]any{"enabled": true, "maxAge": 31536000.0, "includeSubdomains": true, "preload": true, "nosniff": true},
	}
	if got := asMap(zones[0].input("settings")); !reflect.DeepEqual(got, want) {
		t.Errorf("zone settings = %v\nwant %v", got, want)
	}
	if zones[0].str("zoneId") != testZoneID {
		t.Errorf("zone settings on zone %q", zones[0].str("zoneId"))
	}
	for _, stack := range []string{"staging", "pr-42"} {
		if n := len(deployOK(t, stack, withEdge(fixtureConfig(t, "staging"))).all(typeZoneSettings)); n != 0 {
			t.Errorf("%s changes the zone's settings (%d resources)", stack, n)
		}
	}
}

func TestNoCloudflareWithoutAZone(t *testing.T) {
	for stack, cfg := range map[string]map[string]any{
		"local":      localConfig(t),
		"production": fixtureConfig(t, "production"),
	} {
		r := deployOK(t, stack, cfg)
		for _, reg := range r.rec.regs {
			if strings.HasPrefix(reg.Type, "cloudflare:") || reg.Type == typeCloudflare {
				t.Errorf("%s without a zone registers %s %s", stack, reg.Type, reg.Name)
			}
		}
		if env, _ := r.container("traefik").env(); env["CF_DNS_API_TOKEN"] != "" {
			t.Errorf("%s without a zone gives Traefik a Cloudflare token", stack)
		}
	}
}

func TestCloudflareTokenIsASecret(t *testing.T) {
	r := deployOK(t, "production", withEdge(fixtureConfig(t, "production")))
	provider := r.get(typeCloudflare, "edge-cloudflare")
	token := provider.Inputs["apiToken"]
	if !token.ContainsSecrets() || value(token) != testToken {
		t.Errorf("provider apiToken = %v (secret %v), want the configured token, secret", value(token), token.ContainsSecrets())
	}
	for _, rec := range append(r.all(typeRecord), r.all(typeZoneSettings)...) {
		if !isChildOf(rec, "django-stack:components:Edge") {
			t.Errorf("%s is not under the edge component", rec.Name)
		}
	}
	// lego reads CF_DNS_API_TOKEN_FILE as it would CF_DNS_API_TOKEN.
	fileToken, secret, ok := r.container("traefik").secretFile("CF_DNS_API_TOKEN")
	if env, _ := r.container("traefik").env(); fileToken != testToken || !secret || !ok || env["CF_DNS_API_TOKEN"] != "" {
		t.Errorf("traefik CF_DNS_API_TOKEN_FILE gives %q (secret %v, uploaded %v); in the environment %q", fileToken, secret, ok, env["CF_DNS_API_TOKEN"])
	}
	for _, c := range r.all(typeContainer) {
		for k, v := range c.labels() {
			if strings.Contains(v, testToken) {
				t.Errorf("%s label %s carries the token", c.Name, k)
			}
		}
	}
}

func isChildOf(reg *Registration, typ string) bool {
	return reg.Parent != "" && string(resource.URN(reg.Parent).QualifiedType()) == typ
}

func TestCloudflareTokenMustBeSetAndSecret(t *testing.T) {
	cfg := withEdge(fixtureConfig(t, "production"))
	delete(cfg, "cloudflare:apiToken")
	r := deploy(t, "production", cfg)
	if r.err == nil || !strings.Contains(r.err.Error(), "cloudflare:apiToken: must be set when edge.zoneId is") || len(r.rec.regs) != 0 {
		t.Errorf("no token: %v (%d registered)", r.err, len(r.rec.regs))
	}
	cfg["cloudflare:apiToken"] = testToken // plain text
	r = deploy(t, "production", cfg)
	if r.err == nil || !strings.Contains(r.err.Error(), "cloudflare:apiToken: is stored in plain text") {
		t.Errorf("plain token: %v", r.err)
	}
}

func TestEdgeSettingsAreChecked(t *testing.T) {
	for path, v := range map[string]any{
		"edge.zoneId":             "example.com",
		"edge.addresses":          []any{"10.0.0.5"},
		"edge.zone.ssl":           "very",
		"edge.zone.minTlsVersion": "1.4",
	} {
		cfg := withEdge(fixtureConfig(t, "production"))
		cfg = setPath(cfg, path, v)
		r := deploy(t, "production", cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), path) {
			t.Errorf("%s = %v accepted: %v", path, v, r.err)
		}
	}
}

func TestTLSAtTraefik(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg       map[string]any
		challenge string
	}{
		{"with a zone: DNS challenge through Cloudflare", withEdge(fixtureConfig(t, "production")), "dnsChallenge"},
		{"without: HTTP challenge", fixtureConfig(t, "production"), "httpChallenge"},
	} {
		r := deployOK(t, "production", c.cfg)
		doc := traefikStatic(t, r)
		acme := asMap(at(doc, "certificatesResolvers.letsencrypt.acme"))
		if acme["storage"] != "/letsencrypt/acme.json" || acme[c.challenge] == nil || len(acme) != 2 {
			t.Errorf("%s: acme = %v", c.name, acme)
		}
		if c.challenge == "dnsChallenge" && at(doc, "certificatesResolvers.letsencrypt.acme.dnsChallenge.provider") != "cloudflare" {
			t.Errorf("%s: dns provider %v", c.name, at(doc, "certificatesResolvers.letsencrypt.acme.dnsChallenge.provider"))
		}
		redirect := asMap(at(doc, "entryPoints.web.http.redirections.entryPoint"))
		if redirect["to"] != "websecure" || redirect["scheme"] != "https" || redirect["permanent"] != true {
			t.Errorf("%s: web is not redirected to https: %v", c.name, redirect)
		}
		for _, name := range []string{"backend-1", "nginx"} {
			labels := r.container(name).labels()
			router := routerOf(labels)
			if labels[router+"tls.certresolver"] != "letsencrypt" || labels[router+"tls"] != "true" {
				t.Errorf("%s: %s router has no certificate from the resolver: %v", c.name, name, labels)
			}
		}
	}
	// No TLS in local: no resolver, no redirect, no 443.
	doc := traefikStatic(t, deployOK(t, "local", localConfig(t)))
	if at(doc, "certificatesResolvers") != nil || at(doc, "entryPoints.web.http") != nil {
		t.Errorf("local has TLS machinery: %v", doc)
	}
}

// routerOf returns the "traefik.http.routers.<name>." prefix of a container's labels.
func routerOf(labels map[string]string) string {
	for k := range labels {
		if strings.HasPrefix(k, "traefik.http.routers.") && strings.HasSuffix(k, ".rule") {
			return strings.TrimSuffix(k, "rule")
		}
	}
	return ""
}

func TestSecurityHeadersOnEveryPublicRouter(t *testing.T) {
	r := deployOK(t, "production", withEdge(fixtureConfig(t, "production")))
	headers := asMap(at(traefikDynamic(t, r), "http.middlewares.security-headers.headers"))
	want := map[string]any{
		"stsSeconds": 31536000, "stsIncludeSubdomains": true, "stsPreload": true,
		"contentTypeNosniff": true, "referrerPolicy": "same-origin", "frameDeny": true,
	}
	if !reflect.DeepEqual(headers, want) {
		t.Errorf("security headers = %v\nwant %v", headers, want)
	}
	if at(traefikStatic(t, r), "providers.file.filename") != "/etc/traefik/dynamic.yml" {
		t.Errorf("traefik does not read dynamic.yml")
	}
	routers := 0
	for _, c := range r.all(typeContainer) {
		labels := c.labels()
		if router := routerOf(labels); router != "" {
			routers++
			if !strings.HasPrefix(labels[router+"middlewares"], "security-headers@file") {
				t.Errorf("%s router %s has middlewares %q", c.Name, router, labels[router+"middlewares"])
			}
			if eps := labels[router+"entrypoints"]; eps != "websecure" {
				t.Errorf("%s router %s listens on %q; only websecure is public and routed", c.Name, router, eps)
			}
		}
	}
	if routers != 3 {
		t.Errorf("%d routers, want the backends' and nginx's", routers)
	}

	// Without TLS the same headers, but no HSTS.
	local := asMap(at(traefikDynamic(t, deployOK(t, "local", localConfig(t))), "http.middlewares.security-headers.headers"))
	if _, hsts := local["stsSeconds"]; hsts || local["contentTypeNosniff"] != true || local["frameDeny"] != true {
		t.Errorf("local security headers = %v", local)
	}
}

func TestMetricsAreNeverRoutedPublicly(t *testing.T) {
	r := deployOK(t, "production", withEdge(fixtureConfig(t, "production")))
	for _, c := range r.all(typeContainer) {
		for k, v := range c.labels() {
			if strings.HasSuffix(k, ".entrypoints") && strings.Contains(v, "metrics") {
				t.Errorf("%s routes %s to the metrics entrypoint", c.Name, k)
			}
		}
		for _, p := range asSlice(c.input("ports")) {
			if asMap(p)["internal"] == 8082.0 {
				t.Errorf("%s publishes the metrics port", c.Name)
			}
		}
	}
	if at(traefikStatic(t, r), "api") != nil {
		t.Errorf("traefik's API/dashboard is enabled")
	}
}

func TestBackendSeesTheSitesHostsAndOrigins(t *testing.T) {
	env, _ := deployOK(t, "pr-42", withEdge(fixtureConfig(t, "staging"))).container("backend-1").env()
	want := map[string]string{
		"USE_TLS":              "True",
		"ALLOWED_HOSTS":        "pr-42.staging.example.com",
		"CSRF_TRUSTED_ORIGINS": "https://pr-42.staging.example.com",
		"CORS_ALLOWED_ORIGINS": "https://pr-42.staging.example.com",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("pr-42 backend %s = %q, want %q", k, env[k], v)
		}
	}
	local, _ := deployOK(t, "local", localConfig(t)).container("backend-1").env()
	if local["USE_TLS"] != "False" || local["CSRF_TRUSTED_ORIGINS"] != "http://localhost:8080" {
		t.Errorf("local backend USE_TLS %q CSRF_TRUSTED_ORIGINS %q", local["USE_TLS"], local["CSRF_TRUSTED_ORIGINS"])
	}
}
