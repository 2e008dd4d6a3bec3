package traefik

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/djangostack/infra/components/naming"
	"gopkg.in/yaml.v3"
)

// Environment is what the static configuration needs to know about
// the deployment: where to find its containers and whether TLS is on.
type Environment struct {
	// Network is the Docker name of the edge network.
	Network string
	// Labels select this deployment's containers among all of the host's.
	Labels map[string]string
	// TLS adds the websecure entrypoint, the redirect to it and the
	// certificate resolver.
	TLS bool
	// DNSProvider is the lego DNS provider of the ACME DNS challenge
	// ("cloudflare" when the stack has a zone), empty when there is none.
	DNSProvider string
	// Swarm reads the services of a swarm instead of the host's containers.
	Swarm bool
	// DockerAPI is the Docker API's endpoint: the proxy's (DockerAPI).
	DockerAPI string
	// TrustedIPs are the addresses and ranges (CIDR) whose X-Forwarded-*
	// headers the public entrypoints keep: Cloudflare's when it proxies the
	// site. Empty, the default, trusts no one: Traefik drops those headers
	// from every request and sets its own, the client being its peer.
	TrustedIPs []string
}

// The static configuration's model: the subset of Traefik v3's that this
// program writes, field names as Traefik spells them.
type (
	traefikStatic struct {
		Global                traefikGlobal                `yaml:"global"`
		EntryPoints           map[string]traefikEntryPoint `yaml:"entryPoints"`
		Providers             traefikProviders             `yaml:"providers"`
		CertificatesResolvers map[string]traefikResolver   `yaml:"certificatesResolvers,omitempty"`
		Metrics               traefikMetricsConf           `yaml:"metrics"`
		Ping                  traefikPing                  `yaml:"ping"`
		Log                   traefikLog                   `yaml:"log"`
		AccessLog             *struct{}                    `yaml:"accessLog,omitempty"`
		ServersTransport      traefikServersTransport      `yaml:"serversTransport"`
	}
	traefikServersTransport struct {
		ForwardingTimeouts struct {
			DialTimeout string `yaml:"dialTimeout"`
		} `yaml:"forwardingTimeouts"`
	}
	traefikEntryPoint struct {
		Address          string                   `yaml:"address"`
		ForwardedHeaders *traefikForwardedHeaders `yaml:"forwardedHeaders,omitempty"`
		HTTP             *traefikEntryHTTP        `yaml:"http,omitempty"`
		HTTP2            *traefikHTTP2            `yaml:"http2,omitempty"`
		Transport        *traefikTransport        `yaml:"transport,omitempty"`
	}
	traefikForwardedHeaders struct {
		TrustedIPs []string `yaml:"trustedIPs"`
	}
	traefikEntryHTTP struct {
		Redirections traefikRedirections `yaml:"redirections"`
	}
	traefikRedirections struct {
		EntryPoint traefikRedirect `yaml:"entryPoint"`
	}
	traefikRedirect struct {
		To        string `yaml:"to"`
		Scheme    string `yaml:"scheme"`
		Permanent bool   `yaml:"permanent"`
	}
	traefikResolver struct {
		ACME traefikACME `yaml:"acme"`
	}
	traefikACME struct {
		Email    string `yaml:"email,omitempty"`
		CAServer string `yaml:"caServer,omitempty"`
		Storage  string `yaml:"storage"`
		// Traefik's own options for a private CA (v3.2 and later, so in
		// the v3.5 image): typed, in the schema the tests check, and
		// scoped to this resolver's ACME client, unlike lego's
		// LEGO_CA_CERTIFICATES variable, which Traefik reads only when
		// these are unset.
		CACertificates   []string          `yaml:"caCertificates,omitempty"`
		CASystemCertPool bool              `yaml:"caSystemCertPool,omitempty"`
		DNSChallenge     *traefikDNS       `yaml:"dnsChallenge,omitempty"`
		HTTPChallenge    *traefikHTTPChall `yaml:"httpChallenge,omitempty"`
		TLSChallenge     *struct{}         `yaml:"tlsChallenge,omitempty"`
	}
	traefikDNS struct {
		Provider string `yaml:"provider"`
	}
	traefikHTTPChall struct {
		EntryPoint string `yaml:"entryPoint"`
	}
	traefikHTTP2 struct {
		MaxConcurrentStreams int `yaml:"maxConcurrentStreams"`
	}
	traefikTransport struct {
		RespondingTimeouts traefikTimeouts `yaml:"respondingTimeouts"`
	}
	traefikTimeouts struct {
		ReadTimeout  string `yaml:"readTimeout"`
		WriteTimeout string `yaml:"writeTimeout"`
		IdleTimeout  string `yaml:"idleTimeout"`
	}
	traefikProviders struct {
		ThrottleDuration string         `yaml:"providersThrottleDuration"`
		Docker           *traefikDocker `yaml:"docker,omitempty"`
		Swarm            *traefikDocker `yaml:"swarm,omitempty"`
		File             traefikFile    `yaml:"file"`
	}
	traefikFile struct {
		Filename string `yaml:"filename"`
		Watch    bool   `yaml:"watch"`
	}
	traefikDocker struct {
		Endpoint         string `yaml:"endpoint"`
		ExposedByDefault bool   `yaml:"exposedByDefault"`
		Network          string `yaml:"network"`
		Constraints      string `yaml:"constraints"`
		Watch            bool   `yaml:"watch,omitempty"`
		RefreshSeconds   string `yaml:"refreshSeconds,omitempty"`
	}
	traefikMetricsConf struct {
		Prometheus traefikPrometheus `yaml:"prometheus"`
	}
	traefikPrometheus struct {
		EntryPoint           string    `yaml:"entryPoint"`
		Buckets              []float64 `yaml:"buckets,flow"`
		AddEntryPointsLabels bool      `yaml:"addEntryPointsLabels"`
		AddRoutersLabels     bool      `yaml:"addRoutersLabels"`
		AddServicesLabels    bool      `yaml:"addServicesLabels"`
	}
	traefikGlobal struct {
		CheckNewVersion    bool `yaml:"checkNewVersion"`
		SendAnonymousUsage bool `yaml:"sendAnonymousUsage"`
	}
	traefikPing struct {
		EntryPoint string `yaml:"entryPoint"`
	}
	traefikLog struct {
		Level string `yaml:"level"`
	}
)

// Host is the Docker name of a deployment's Traefik container, or of its
// Swarm service, which the containers beside it resolve to its addresses:
// the backend believes the forwarded headers of these addresses only.
func Host(n naming.Naming) string { return n.Name("traefik") }

// Names of the entrypoints. The container listens on the standard ports;
// the host ports are the settings'.
const (
	entryPointWeb       = "web"
	entryPointWebsecure = "websecure"
	entryPointMetrics   = "metrics"
)

// RenderStatic renders Traefik's static configuration (traefik.yml):
// the guide's HTTP/2 and timeout settings on every public entrypoint, the
// Prometheus metrics and ping on an unpublished one, and a Docker provider
// that only sees this deployment's containers that opt in by label. The
// public entrypoints keep the X-Forwarded-* headers of env.TrustedIPs only.
func RenderStatic(s Settings, env Environment) string {
	var forwarded *traefikForwardedHeaders
	if len(env.TrustedIPs) > 0 {
		forwarded = &traefikForwardedHeaders{TrustedIPs: slices.Clone(env.TrustedIPs)}
	}
	public := func(port int) traefikEntryPoint {
		return traefikEntryPoint{
			Address:          fmt.Sprintf(":%d", port),
			ForwardedHeaders: forwarded,
			HTTP2:            &traefikHTTP2{MaxConcurrentStreams: s.HTTP2MaxConcurrentStreams},
			Transport: &traefikTransport{RespondingTimeouts: traefikTimeouts{
				ReadTimeout:  s.RespondingTimeouts.Read.Go(),
				WriteTimeout: s.RespondingTimeouts.Write.Go(),
				IdleTimeout:  s.RespondingTimeouts.Idle.Go(),
			}},
		}
	}
	conf := traefikStatic{
		EntryPoints: map[string]traefikEntryPoint{
			entryPointWeb:     public(80),
			entryPointMetrics: {Address: fmt.Sprintf(":%d", s.Metrics.Port)},
		},
		Providers: providers(s, env),
		Metrics: traefikMetricsConf{Prometheus: traefikPrometheus{
			EntryPoint:           entryPointMetrics,
			Buckets:              s.Metrics.Buckets,
			AddEntryPointsLabels: true,
			AddRoutersLabels:     true,
			AddServicesLabels:    true,
		}},
		Ping: traefikPing{EntryPoint: entryPointMetrics},
		Log:  traefikLog{Level: s.LogLevel},
		// Traefik asks update.traefik.io for new versions once a day unless
		// told not to: the image is pinned and upgraded through a reviewed
		// config change, so the proxy makes no call of its own to the
		// internet, nor sends usage statistics.
		Global: traefikGlobal{CheckNewVersion: false, SendAnonymousUsage: false},
	}
	conf.ServersTransport.ForwardingTimeouts.DialTimeout = s.DialTimeout.Go()
	if env.TLS {
		conf.EntryPoints[entryPointWebsecure] = public(443)
		web := conf.EntryPoints[entryPointWeb]
		web.HTTP = &traefikEntryHTTP{Redirections: traefikRedirections{EntryPoint: traefikRedirect{
			To: entryPointWebsecure, Scheme: "https", Permanent: true,
		}}}
		conf.EntryPoints[entryPointWeb] = web
		acme := traefikACME{Email: s.ACME.Email, CAServer: s.ACME.CAServer, Storage: traefikCertDir + "/acme.json"}
		if s.ACME.TrustsPrivateCA() {
			// The private roots come on top of the system's, as the
			// setting promises: without caSystemCertPool, Traefik would
			// trust them alone, and a directory with a public certificate
			// (Let's Encrypt's, when caServer is left empty) would fail.
			acme.CACertificates = []string{traefikACMECAPath}
			acme.CASystemCertPool = true
		}
		switch s.Challenge(env) {
		case "dns":
			acme.DNSChallenge = &traefikDNS{Provider: env.DNSProvider}
		case "tls":
			acme.TLSChallenge = &struct{}{}
		default:
			acme.HTTPChallenge = &traefikHTTPChall{EntryPoint: entryPointWeb}
		}
		conf.CertificatesResolvers = map[string]traefikResolver{CertResolver: {ACME: acme}}
	}
	if s.AccessLog {
		conf.AccessLog = &struct{}{}
	}
	return renderYAML(conf)
}

// The dynamic configuration's model: the middlewares the routers share.
type (
	traefikDynamic struct {
		HTTP struct {
			Middlewares map[string]traefikMiddleware `yaml:"middlewares"`
		} `yaml:"http"`
	}
	traefikMiddleware struct {
		Headers *traefikHeaders `yaml:"headers,omitempty"`
		Retry   *traefikRetry   `yaml:"retry,omitempty"`
	}
	traefikRetry struct {
		Attempts        int    `yaml:"attempts"`
		InitialInterval string `yaml:"initialInterval"`
	}
	traefikHeaders struct {
		STSSeconds           int64  `yaml:"stsSeconds,omitempty"`
		STSIncludeSubdomains bool   `yaml:"stsIncludeSubdomains,omitempty"`
		STSPreload           bool   `yaml:"stsPreload,omitempty"`
		ContentTypeNosniff   bool   `yaml:"contentTypeNosniff"`
		ReferrerPolicy       string `yaml:"referrerPolicy,omitempty"`
		FrameDeny            bool   `yaml:"frameDeny"`
	}
)

// RenderDynamic renders the file provider's configuration
// (dynamic.yml): the security-headers middleware that every public router
// uses, with HSTS only when the site speaks TLS, and the backend's retry.
func RenderDynamic(s Settings, env Environment) string {
	h := s.SecurityHeaders
	headers := traefikHeaders{
		ContentTypeNosniff: h.ContentTypeNosniff,
		ReferrerPolicy:     h.ReferrerPolicy,
		FrameDeny:          h.FrameDeny,
	}
	if env.TLS && h.HSTS.MaxAge > 0 {
		headers.STSSeconds = h.HSTS.MaxAge.Seconds()
		headers.STSIncludeSubdomains = h.HSTS.IncludeSubdomains
		headers.STSPreload = h.HSTS.Preload
	}
	var conf traefikDynamic
	conf.HTTP.Middlewares = map[string]traefikMiddleware{
		middlewareName(SecurityHeadersMiddleware): {Headers: &headers},
		middlewareName(RetryMiddleware): {Retry: &traefikRetry{
			Attempts:        s.Retry.Attempts,
			InitialInterval: s.Retry.InitialInterval.Go(),
		}},
	}
	return renderYAML(conf)
}

// middlewareName is a middleware's name inside its provider ("retry" of "retry@file").
func middlewareName(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	return name
}

// renderYAML renders one of Traefik's configuration documents.
func renderYAML(conf any) string {
	var out strings.Builder
	out.WriteString("# Rendered by the django-stack Pulumi program from its profile; edits here are overwritten.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(conf); err != nil {
		// Plain structs of strings, numbers and maps always marshal.
		panic(err)
	}
	return out.String()
}

// providers are Traefik's providers: the containers of this host, or the
// services of the swarm, that opt in by label and belong to this deployment;
// and the file with the middlewares.
func providers(s Settings, env Environment) traefikProviders {
	discovery := &traefikDocker{
		Endpoint:         env.DockerAPI,
		ExposedByDefault: false,
		Network:          env.Network,
		Constraints:      labelConstraint(env.Labels),
	}
	p := traefikProviders{ThrottleDuration: s.ProvidersThrottleDuration.Go(), File: traefikFile{Filename: traefikDynamicPath, Watch: true}}
	if env.Swarm {
		// The Swarm provider has no events to watch: it polls the swarm,
		// every 15 s by default. A start-first release stops the old task
		// as soon as the new one is healthy, and until Traefik has read
		// the new task's address the old one is all it knows: it polls
		// every 2 s instead, well within the old task's drain.
		discovery.RefreshSeconds = swarmRefresh
		p.Swarm = discovery
	} else {
		discovery.Watch = true
		p.Docker = discovery
	}
	return p
}

// swarmRefresh is how often Traefik's Swarm provider reads the swarm's services.
const swarmRefresh = "2s"

// labelConstraint is a Traefik constraint expression matching every label.
func labelConstraint(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("Label(`%s`, `%s`)", k, labels[k]))
	}
	return strings.Join(parts, " && ")
}
