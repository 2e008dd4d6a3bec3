package traefik

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
)

// Settings are the reverse proxy's static configuration and container.
// DefaultSettings holds the guide's values.
type Settings struct {
	// Image is the proxy image, pinned to a minor version.
	Image string `json:"image"`
	// HTTPPort is the host port published for the web entrypoint.
	HTTPPort int `json:"httpPort"`
	// HTTPSPort is the host port published for websecure when TLS is on.
	HTTPSPort int `json:"httpsPort"`
	// BindAddress is the host address the ports are published on (default
	// empty: every interface; local: 127.0.0.1, so the site is not on the LAN).
	BindAddress string `json:"bindAddress"`
	// HTTP2MaxConcurrentStreams is http2.maxConcurrentStreams.
	HTTP2MaxConcurrentStreams int `json:"http2MaxConcurrentStreams"`
	// RespondingTimeouts bound each client connection.
	RespondingTimeouts RespondingTimeouts `json:"respondingTimeouts"`
	// Metrics is the Prometheus endpoint.
	Metrics Metrics `json:"metrics"`
	// AccessLog writes one line per request to the container log.
	AccessLog bool `json:"accessLog"`
	// LogLevel is Traefik's own log level.
	LogLevel string `json:"logLevel"`
	// ACME gets the site's certificates from Let's Encrypt when TLS is on.
	ACME ACME `json:"acme"`
	// SecurityHeaders are added to every response of the site's routers.
	SecurityHeaders SecurityHeaders `json:"securityHeaders"`
	// Retry re-sends to another backend container a request that could not
	// reach the first, as when a container stops during a release.
	Retry Retry `json:"retry"`
	// ProvidersThrottleDuration is how long Traefik waits after a container
	// starts, stops or changes health before it applies the new routes
	// (default 0s: at once; Traefik's own default is 2s). Until then a
	// stopped backend's address, gone, still receives requests, which hang
	// until DialTimeout and are then retried.
	ProvidersThrottleDuration units.Duration `json:"providersThrottleDuration"`
	// DialTimeout bounds a connection to a backend container (default 2s;
	// Traefik's own default is 30s). Connecting on the host's network takes
	// well under a millisecond; an address that is gone does not refuse but
	// never answers, and the retry comes only after this.
	DialTimeout units.Duration `json:"dialTimeout"`
	// Ingress is whose Traefik routes the stack: own (a Traefik of its own,
	// on ports of its own; production, local), host (a Traefik shared by the
	// project's stacks on this host, which this stack runs; staging) or join
	// (the host's shared Traefik, run by another stack; staging's clones).
	Ingress string `json:"ingress"`
	// DockerAPI is the proxy through which Traefik reads the Docker API,
	// which alone mounts the Docker socket.
	DockerAPI DockerAPI `json:"dockerApi"`
	runtime.ContainerSettings
}

// Ingress modes.
const (
	IngressOwn  = "own"
	IngressHost = "host"
	IngressJoin = "join"
)

// Retry is Traefik's retry middleware. It only retries when no response came
// back, so a request a container answered is never sent twice.
//
// The tries span the time Traefik takes to drop a stopped container: the
// container's exit, Docker's event, then providersThrottleDuration. Traefik
// waits between InitialInterval and twice it before each new try (with
// ±50% jitter), so the defaults, 4 tries from 500ms, wait at least about 1 s
// in all; a shorter span let a request's every try meet a container that had
// just stopped.
type Retry struct {
	// Attempts is the number of tries in all.
	Attempts int `json:"attempts"`
	// InitialInterval is the first backoff between tries.
	InitialInterval units.Duration `json:"initialInterval"`
}

// ACME is Traefik's certificate resolver.
type ACME struct {
	// Email is the ACME account's contact address.
	Email string `json:"email"`
	// CAServer is the ACME directory URL (default empty: Let's Encrypt's
	// production directory).
	CAServer string `json:"caServer"`
	// Challenge proves control of the domains: dns (through Cloudflare, the
	// default when edge.zoneId is set), http (the default otherwise) or tls.
	Challenge string `json:"challenge"`
	// CACertificates is the PEM text of one or more root certificates that
	// Traefik trusts, besides the system's, when it reaches the ACME
	// directory over https: those of a private CA (step-ca, an internal
	// CA, Pebble in tests) whose directory no public root vouches for, set
	// together with caServer. Empty, the default, trusts the system's
	// roots only.
	CACertificates runtime.CACertificates `json:"caCertificates"`
}

// TrustsPrivateCA reports whether CACertificates holds any text.
func (a ACME) TrustsPrivateCA() bool { return a.CACertificates.Set() }

// SecurityHeaders are the guide's TLS-only security settings, applied at the
// proxy to every response, Django's or nginx's.
type SecurityHeaders struct {
	// HSTS is Strict-Transport-Security, sent only when TLS is on.
	HSTS HSTS `json:"hsts"`
	// ContentTypeNosniff sends X-Content-Type-Options: nosniff.
	ContentTypeNosniff bool `json:"contentTypeNosniff"`
	// ReferrerPolicy is the Referrer-Policy header.
	ReferrerPolicy string `json:"referrerPolicy"`
	// FrameDeny sends X-Frame-Options: DENY.
	FrameDeny bool `json:"frameDeny"`
}

// RespondingTimeouts are an entrypoint's transport.respondingTimeouts.
type RespondingTimeouts struct {
	// Read is readTimeout.
	Read units.Duration `json:"read"`
	// Write is writeTimeout.
	Write units.Duration `json:"write"`
	// Idle is idleTimeout.
	Idle units.Duration `json:"idle"`
}

// Metrics is the Prometheus metrics configuration.
type Metrics struct {
	// Buckets are the latency histogram buckets, seconds.
	Buckets []float64 `json:"buckets"`
	// Port of the metrics entrypoint. It is never published on the host:
	// Prometheus scrapes it over the edge network. Traefik's ping, which its
	// healthcheck uses, answers on it too.
	Port int `json:"port"`
}

// DefaultSettings returns the guide's Traefik, with 1 CPU / 256 MiB
// limits and a 0.25 CPU / 64 MiB reservation.
func DefaultSettings() Settings {
	return Settings{
		Image:                     "traefik:v3.5",
		HTTPPort:                  80,
		HTTPSPort:                 443,
		HTTP2MaxConcurrentStreams: 250,
		RespondingTimeouts:        RespondingTimeouts{Read: units.Seconds(60), Write: units.Seconds(60), Idle: units.Seconds(180)},
		Metrics:                   Metrics{Buckets: []float64{0.1, 0.3, 1.2, 5.0}, Port: 8082},
		AccessLog:                 true,
		LogLevel:                  "INFO",
		SecurityHeaders: SecurityHeaders{
			HSTS:               GuideHSTS(),
			ContentTypeNosniff: true,
			ReferrerPolicy:     "same-origin",
			FrameDeny:          true,
		},
		Retry:                     Retry{Attempts: 4, InitialInterval: units.Duration(500 * time.Millisecond)},
		ProvidersThrottleDuration: 0,
		DialTimeout:               units.Seconds(2),
		Ingress:                   IngressOwn,
		DockerAPI:                 DefaultDockerAPI(),
		// 15s to stop: in-flight requests finish (Traefik's own grace is 10s).
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(1, 256, 0.25, 64),
			runtime.Healthcheck{Interval: units.Seconds(10), Timeout: units.Seconds(5), Retries: 3, StartPeriod: units.Seconds(10)},
			units.Seconds(15)),
	}
}

// Challenge is the ACME challenge the resolver uses: the configured one, or
// dns when a DNS provider is at hand, else http.
func (s Settings) Challenge(env Environment) string {
	switch {
	case s.ACME.Challenge != "":
		return s.ACME.Challenge
	case env.DNSProvider != "":
		return "dns"
	}
	return "http"
}

// HealthTest asks Traefik's own ping endpoint through its CLI.
func (s Settings) HealthTest() []string {
	return []string{"CMD", "traefik", "healthcheck", "--ping"}
}

var traefikLogLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"}

// Public reports whether the published ports are reachable from other hosts.
func (s Settings) Public() bool {
	ip := net.ParseIP(s.BindAddress)
	return ip == nil || !ip.IsLoopback()
}

// Check reports settings Traefik cannot start with.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	units.CheckImage(&ps, "image", s.Image)
	units.CheckPort(&ps, "httpPort", s.HTTPPort)
	units.CheckPort(&ps, "httpsPort", s.HTTPSPort)
	units.CheckPort(&ps, "metrics.port", s.Metrics.Port)
	if s.BindAddress != "" && net.ParseIP(s.BindAddress) == nil {
		ps.Add("bindAddress", "%q is not an IP address (e.g. 127.0.0.1; empty for every interface)", s.BindAddress)
	}
	if s.Metrics.Port == 80 || s.Metrics.Port == 443 {
		ps.Add("metrics.port", "%d is taken by the web or websecure entrypoint inside the container", s.Metrics.Port)
	}
	if s.HTTP2MaxConcurrentStreams < 1 {
		ps.Add("http2MaxConcurrentStreams", "%d must be at least 1", s.HTTP2MaxConcurrentStreams)
	}
	for _, t := range []struct {
		key string
		v   units.Duration
	}{{"respondingTimeouts.read", s.RespondingTimeouts.Read}, {"respondingTimeouts.write", s.RespondingTimeouts.Write}, {"respondingTimeouts.idle", s.RespondingTimeouts.Idle}} {
		if t.v < 0 {
			ps.Add(t.key, "%q must not be negative (0 means no timeout)", t.v.String())
		}
	}
	for i, b := range s.Metrics.Buckets {
		if b <= 0 || (i > 0 && b <= s.Metrics.Buckets[i-1]) {
			ps.Add("metrics.buckets", "%v must be positive and increasing (e.g. [0.1, 0.3, 1.2, 5.0])", s.Metrics.Buckets)
			break
		}
	}
	switch s.ACME.Challenge {
	case "", "dns", "http", "tls":
	default:
		ps.Add("acme.challenge", "%q is not an ACME challenge (dns, http or tls; empty picks dns with a Cloudflare zone, else http)", s.ACME.Challenge)
	}
	if s.ACME.Email != "" && !strings.Contains(s.ACME.Email, "@") {
		ps.Add("acme.email", "%q is not an email address", s.ACME.Email)
	}
	if s.ACME.TrustsPrivateCA() {
		s.ACME.CACertificates.Check(&ps, "acme.caCertificates", time.Now())
	}
	switch s.Ingress {
	case IngressOwn, IngressHost, IngressJoin:
	default:
		ps.Add("ingress", "%q is not an ingress (own, host or join)", s.Ingress)
	}
	if s.Retry.Attempts < 1 {
		ps.Add("retry.attempts", "%d must be at least 1 (1: no retry)", s.Retry.Attempts)
	}
	if s.ProvidersThrottleDuration < 0 {
		ps.Add("providersThrottleDuration", "%q must not be negative", s.ProvidersThrottleDuration.String())
	}
	if s.DialTimeout < units.Duration(time.Millisecond) {
		ps.Add("dialTimeout", "%q must be at least 1ms", s.DialTimeout.String())
	}
	if s.SecurityHeaders.HSTS.MaxAge < 0 {
		ps.Add("securityHeaders.hsts.maxAge", "%q must not be negative", s.SecurityHeaders.HSTS.MaxAge.String())
	}
	if !slices.Contains(traefikLogLevels, s.LogLevel) {
		ps.Add("logLevel", "%q is not a Traefik log level (one of %s)", s.LogLevel, strings.Join(traefikLogLevels, ", "))
	}
	ps.Merge("dockerApi", s.DockerAPI.Check())
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}
