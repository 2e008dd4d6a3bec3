package traefik

import (
	"fmt"
	"strings"

	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/units"
)

// HSTS is a Strict-Transport-Security policy.
type HSTS struct {
	// MaxAge is max-age, whole seconds; 0 sends no header.
	MaxAge units.Duration `json:"maxAge"`
	// IncludeSubdomains adds includeSubDomains.
	IncludeSubdomains bool `json:"includeSubdomains"`
	// Preload adds preload.
	Preload bool `json:"preload"`
}

// GuideHSTS is the guide's SECURE_HSTS_*: one year, subdomains, preload.
func GuideHSTS() HSTS {
	return HSTS{MaxAge: units.Duration(units.Year), IncludeSubdomains: true, Preload: true}
}

// Route is a Traefik router and the load-balanced service behind it, as the
// labels of the containers that serve it describe them. Every container with
// the same route labels becomes one more server of the service.
type Route struct {
	// Name of the router and of its service, unique per deployment.
	Name string
	// Rule is the router's matcher.
	Rule string
	// Priority orders routers whose rules overlap; higher wins.
	Priority int
	// Port the containers listen on.
	Port int
	// Retry sends a request that could not reach a container to another
	// one: a container that stops during a release refuses connections.
	Retry bool
	// Health, when set, is the load balancer's active healthcheck: a server
	// that fails it gets no traffic until it passes again.
	Health *RouteHealth
}

// RouteHealth is a Traefik load-balancer healthcheck.
type RouteHealth struct {
	Path string
	// Port is probed instead of the route's when set: the websocket server's
	// containers are judged by their HTTP server's health.
	Port     int
	Interval units.Duration
	Timeout  units.Duration
	// Hostname is sent as the Host header, so Django's ALLOWED_HOSTS accepts
	// the probe.
	Hostname string
	// Headers are sent with the probe (X-Forwarded-Proto, so that Django's
	// https redirect does not answer the probe with a 301).
	Headers map[string]string
}

// routeNameSafe keeps a router name to the characters Traefik's label
// syntax allows: dots would split the label path.
func routeNameSafe(name string) string { return strings.ReplaceAll(name, ".", "-") }

// Labels renders the route as Traefik Docker labels for site: a router on
// the site's entrypoint with the security headers, a certificate from the
// resolver when TLS is on, and the load-balanced service behind it.
func (r Route) Labels(site site.Site) map[string]string {
	name := routeNameSafe(r.Name)
	router := "traefik.http.routers." + name + "."
	service := "traefik.http.services." + name + ".loadbalancer."
	labels := map[string]string{
		"traefik.enable":        "true",
		router + "rule":         r.Rule,
		router + "entrypoints":  site.EntryPoint(),
		router + "service":      name,
		router + "middlewares":  SecurityHeadersMiddleware,
		service + "server.port": fmt.Sprint(r.Port),
	}
	if r.Retry {
		labels[router+"middlewares"] += "," + RetryMiddleware
	}
	if r.Priority != 0 {
		labels[router+"priority"] = fmt.Sprint(r.Priority)
	}
	if site.TLS {
		labels[router+"tls"] = "true"
		labels[router+"tls.certresolver"] = CertResolver
	}
	if h := r.Health; h != nil {
		labels[service+"healthcheck.path"] = h.Path
		labels[service+"healthcheck.interval"] = h.Interval.Go()
		labels[service+"healthcheck.timeout"] = h.Timeout.Go()
		if h.Port != 0 {
			labels[service+"healthcheck.port"] = fmt.Sprint(h.Port)
		}
		if h.Hostname != "" {
			labels[service+"healthcheck.hostname"] = h.Hostname
		}
		for k, v := range h.Headers {
			labels[service+"healthcheck.headers."+k] = v
		}
	}
	return labels
}

// RouteLabels are the labels of several routes on the same containers.
func RouteLabels(routes []Route, site site.Site) map[string]string {
	labels := map[string]string{}
	for _, r := range routes {
		labels = runtime.MergeMaps(labels, r.Labels(site))
	}
	return labels
}

// Names under which Traefik's own configuration defines what the routers
// use: the certificate resolver of the static configuration and the
// middleware of the dynamic one.
const (
	CertResolver              = "letsencrypt"
	SecurityHeadersMiddleware = "security-headers@file"
	RetryMiddleware           = "retry@file"
)
