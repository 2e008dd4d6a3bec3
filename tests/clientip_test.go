package tests

// Whose X-Forwarded-For is believed, at each stage: Traefik keeps the
// headers of Cloudflare's published ranges only when Cloudflare proxies
// the stack, and of no one otherwise; the backend believes those of the
// Traefik that routes its stack only, counting Cloudflare's hop when it is
// there; and the HSTS policy the backend sends is Traefik's. The real
// Traefik binary, when at hand, shows what the rendered entrypoints do
// with a forged header.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/djangostack/infra/components/edge"
	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/tests/skipped"
	"gopkg.in/yaml.v3"
)

func TestCloudflareRangesArePinned(t *testing.T) {
	ranges := edge.CloudflareRanges()
	var v4, v6 []*net.IPNet
	for _, r := range ranges {
		ip, network, err := net.ParseCIDR(r)
		if err != nil || !ip.Equal(network.IP) {
			t.Fatalf("%q is not a network in CIDR notation", r)
		}
		if ip.To4() != nil {
			v4 = append(v4, network)
		} else {
			v6 = append(v6, network)
		}
	}
	// As taken on 2026-12-05: 15 IPv4 ranges, then 7 IPv6 ones.
	if len(v4) != 15 || len(v6) != 7 || ranges[0] != "173.245.48.0/20" || ranges[15] != "2400:cb00::/32" {
		t.Errorf("the pinned ranges are not Cloudflare's published lists: %v", ranges)
	}
	all := slices.Concat(v4, v6)
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.Contains(b.IP) || b.Contains(a.IP) {
				t.Errorf("%s and %s overlap", a, b)
			}
		}
	}
	ranges[0] = "0.0.0.0/0"
	if edge.CloudflareRanges()[0] != "173.245.48.0/20" {
		t.Error("CloudflareRanges hands out its own slice")
	}
}

// trustedIPsOf are the trustedIPs of a static configuration's entrypoints,
// by entrypoint ("" when it keeps no one's headers).
func trustedIPsOf(static map[string]any) map[string]string {
	out := map[string]string{}
	for name, ep := range asMap(static["entryPoints"]) {
		var ips []string
		for _, ip := range asSlice(at(ep, "forwardedHeaders.trustedIPs")) {
			ips = append(ips, fmt.Sprint(ip))
		}
		out[name] = strings.Join(ips, ",")
		if at(ep, "forwardedHeaders.insecure") != nil {
			out[name] += " insecure"
		}
	}
	return out
}

func TestForwardedHeadersAreBelievedOnlyFromTheStacksProxies(t *testing.T) {
	t.Parallel()
	cloudflare := strings.Join(edge.CloudflareRanges(), ",")
	notProxied := func(cfg map[string]any) map[string]any {
		asMap(cfg["edge"])["proxied"] = false
		return cfg
	}
	cases := []struct {
		name, stack string
		cfg         func(*testing.T) map[string]any
		// trusted are Traefik's entrypoints' trustedIPs (nil: no Traefik of
		// the stack's own).
		trusted map[string]string
		// proxies and hops are the backend's TRUSTED_PROXIES and
		// TRUSTED_PROXY_HOPS.
		proxies, hops string
	}{
		{"production, proxied", "production", func(t *testing.T) map[string]any { return withEdge(fixtureConfig(t, "production")) },
			map[string]string{"web": cloudflare, "websecure": cloudflare, "metrics": ""}, "django-stack-production-traefik", "2"},
		{"production, records not proxied", "production", func(t *testing.T) map[string]any { return notProxied(withEdge(fixtureConfig(t, "production"))) },
			map[string]string{"web": "", "websecure": "", "metrics": ""}, "django-stack-production-traefik", "1"},
		{"production, no zone", "production", func(t *testing.T) map[string]any { return fixtureConfig(t, "production") },
			map[string]string{"web": "", "websecure": "", "metrics": ""}, "django-stack-production-traefik", "1"},
		{"staging, proxied: the host's Traefik", "staging", func(t *testing.T) map[string]any { return withEdge(fixtureConfig(t, "staging")) },
			map[string]string{"web": cloudflare, "websecure": cloudflare, "metrics": ""}, "django-stack-staging-traefik", "2"},
		// A clone's record is not proxied; it believes staging's Traefik,
		// which routes it, and no container of its own or of another clone.
		{"a clone", "pr-42", func(t *testing.T) map[string]any { return withEdge(fixtureConfig(t, "staging")) },
			nil, "django-stack-staging-traefik", "1"},
		{"local", "local", localConfig,
			map[string]string{"web": "", "metrics": ""}, "django-stack-local-traefik", "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := deployOK(t, c.stack, c.cfg(t))
			if c.trusted == nil {
				if r.deployment.Traefik != nil {
					t.Fatal("a Traefik of its own")
				}
			} else {
				if got := trustedIPsOf(traefikStatic(t, r)); !reflect.DeepEqual(got, c.trusted) {
					t.Errorf("trustedIPs by entrypoint = %v\nwant %v", got, c.trusted)
				}
				if want := traefik.Host(naming.NewNaming(project, c.stack)); r.deployment.Traefik.Name != want {
					t.Errorf("Traefik is named %s, traefik.Host says %s", r.deployment.Traefik.Name, want)
				}
			}
			// Every container of the backend's image: web replicas, roles.
			var checked int
			for _, reg := range r.all(typeContainer) {
				env, _ := reg.env()
				if _, ok := env["DB_HOST"]; !ok || role(reg.Name) == "migrate" {
					continue
				}
				checked++
				if env["TRUSTED_PROXIES"] != c.proxies || env["TRUSTED_PROXY_HOPS"] != c.hops {
					t.Errorf("%s: TRUSTED_PROXIES=%q TRUSTED_PROXY_HOPS=%q, want %q and %q",
						reg.Name, env["TRUSTED_PROXIES"], env["TRUSTED_PROXY_HOPS"], c.proxies, c.hops)
				}
			}
			if checked == 0 {
				t.Error("no backend container")
			}
		})
	}
}

func TestProxiedTraefikValidatesAgainstTheV3Schema(t *testing.T) {
	t.Parallel()
	static, _ := traefikSchemas(t)
	r := deployOK(t, "production", withEdge(fixtureConfig(t, "production")))
	text, _, _ := r.container("traefik").upload("/etc/traefik/traefik.yml")
	doc, err := parseTraefikStatic(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := static.check(doc); err != nil {
		t.Errorf("the proxied traefik.yml is not valid Traefik v3:\n%v", err)
	}
	// The check can fail: a misspelt key is refused.
	broken := strings.Replace(text, "trustedIPs:", "trustedIps:", 1)
	doc, err = parseTraefikStatic(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := static.check(doc); err == nil {
		t.Error("the schema accepts forwardedHeaders.trustedIps")
	}
}

func TestBackendHSTSFollowsTraefiks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		hsts map[string]any
		// env are HSTS_SECONDS, HSTS_INCLUDE_SUBDOMAINS, HSTS_PRELOAD;
		// header is Traefik's middleware's stsSeconds, stsIncludeSubdomains,
		// stsPreload.
		env, header string
	}{
		{"the guide's", nil, "31536000 True True", "31536000 true true"},
		{"an hour, nothing more", map[string]any{"maxAge": "1h", "includeSubdomains": false, "preload": false}, "3600 False False", "3600 <nil> <nil>"},
		{"none", map[string]any{"maxAge": "0s"}, "0 True True", "<nil> <nil> <nil>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := fixtureConfig(t, "production")
			if c.hsts != nil {
				cfg["traefik"] = map[string]any{"securityHeaders": map[string]any{"hsts": c.hsts}}
			}
			r := deployOK(t, "production", cfg)
			headers := at(traefikDynamic(t, r), "http.middlewares.security-headers.headers")
			got := fmt.Sprint(at(headers, "stsSeconds"), " ", at(headers, "stsIncludeSubdomains"), " ", at(headers, "stsPreload"))
			if got != c.header {
				t.Errorf("Traefik's header: %s, want %s", got, c.header)
			}
			for _, b := range r.backends() {
				env, _ := b.env()
				if got := env["HSTS_SECONDS"] + " " + env["HSTS_INCLUDE_SUBDOMAINS"] + " " + env["HSTS_PRELOAD"]; got != c.env {
					t.Errorf("%s: HSTS_* = %s, want %s", b.Name, got, c.env)
				}
			}
		})
	}
}

// traefikBinary is a Traefik binary to run: TRAEFIK_BIN, or traefik on
// $PATH. None is a skip, even under CI=true: CI's go test runs while the
// engine kit, which builds Traefik, is still building; the local deploy
// runs this test with the kit's binary.
func traefikBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TRAEFIK_BIN"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("traefik"); err == nil {
		return bin
	}
	skipped.Skip(t, "no Traefik binary", "set TRAEFIK_BIN to ../shared/engine/build's traefik; tests/e2e/deploy-local.sh runs this test with it")
	return ""
}

// startTraefik runs Traefik with the static configuration the program
// renders for env, on free loopback ports instead of 80 and 8082, its
// provider the file only, routing everything to upstream. It returns the
// web entrypoint's address.
func startTraefik(t *testing.T, bin string, env traefik.Environment, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	var static map[string]any
	if err := yaml.Unmarshal([]byte(traefik.RenderStatic(traefik.DefaultSettings(), env)), &static); err != nil {
		t.Fatal(err)
	}
	web, metrics := freePort(t), freePort(t)
	asMap(asMap(static["entryPoints"])["web"])["address"] = fmt.Sprintf("127.0.0.1:%d", web)
	asMap(asMap(static["entryPoints"])["metrics"])["address"] = fmt.Sprintf("127.0.0.1:%d", metrics)
	dynamicPath := filepath.Join(dir, "dynamic.yml")
	static["providers"] = map[string]any{"file": map[string]any{"filename": dynamicPath}}
	delete(static, "accessLog")
	dynamic := map[string]any{"http": map[string]any{
		"routers":  map[string]any{"all": map[string]any{"rule": "PathPrefix(`/`)", "entryPoints": []string{"web"}, "service": "echo"}},
		"services": map[string]any{"echo": map[string]any{"loadBalancer": map[string]any{"servers": []any{map[string]any{"url": upstream}}}}},
	}}
	for path, doc := range map[string]any{filepath.Join(dir, "traefik.yml"): static, dynamicPath: dynamic} {
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--configFile="+filepath.Join(dir, "traefik.yml"))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", web)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Traefik did not route within 20 s:\n%s", log.String())
	return ""
}

func TestRealTraefikKeepsForwardedHeadersOfTrustedIPsOnly(t *testing.T) {
	bin := traefikBinary(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	}))
	defer echo.Close()
	forged := "198.51.100.7"
	cases := []struct {
		name    string
		trusted []string
		want    string
	}{
		// This test's client, on loopback, is not one of Cloudflare's
		// addresses: its claim is dropped, the client is its address.
		{"proxied: Cloudflare's ranges", edge.CloudflareRanges(), "127.0.0.1"},
		{"not proxied: no one", nil, "127.0.0.1"},
		// The control: with loopback standing in for a Cloudflare edge,
		// the claim is kept and Traefik adds the address it saw.
		{"loopback trusted", []string{"127.0.0.1/32"}, forged + ", 127.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := startTraefik(t, bin, traefik.Environment{Network: "edge", TrustedIPs: c.trusted}, echo.URL)
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Header.Set("X-Forwarded-For", forged)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != c.want {
				t.Errorf("the upstream got X-Forwarded-For %q, want %q", body, c.want)
			}
			t.Logf("X-Forwarded-For %s sent from 127.0.0.1: the upstream got %q", forged, body)
		})
	}
}
