package components

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// TraefikSettings are the reverse proxy's static configuration and container.
// DefaultTraefikSettings holds the guide's values.
type TraefikSettings struct {
	// Image is the proxy image, pinned to a minor version (default traefik:v3.5).
	Image string `json:"image"`
	// HTTPPort is the host port published for the web entrypoint (default 80).
	HTTPPort int `json:"httpPort"`
	// HTTPSPort is the host port published for websecure when TLS is on (default 443).
	HTTPSPort int `json:"httpsPort"`
	// BindAddress is the host address the ports are published on (default
	// empty: every interface; local: 127.0.0.1, so the site is not on the LAN).
	BindAddress string `json:"bindAddress"`
	// HTTP2MaxConcurrentStreams is http2.maxConcurrentStreams (default 250).
	HTTP2MaxConcurrentStreams int `json:"http2MaxConcurrentStreams"`
	// RespondingTimeouts bound each client connection.
	RespondingTimeouts RespondingTimeouts `json:"respondingTimeouts"`
	// Metrics is the Prometheus endpoint.
	Metrics TraefikMetrics `json:"metrics"`
	// AccessLog writes one line per request to the container log (default true).
	AccessLog bool `json:"accessLog"`
	// LogLevel is Traefik's own log level (default INFO).
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
	ProvidersThrottleDuration Duration `json:"providersThrottleDuration"`
	// DialTimeout bounds a connection to a backend container (default 2s;
	// Traefik's own default is 30s). Connecting on the host's network takes
	// well under a millisecond; an address that is gone does not refuse but
	// never answers, and the retry comes only after this.
	DialTimeout Duration `json:"dialTimeout"`
	// Ingress is whose Traefik routes the stack: own (a Traefik of its own,
	// on ports of its own; production, local), host (a Traefik shared by the
	// project's stacks on this host, which this stack runs; staging) or join
	// (the host's shared Traefik, run by another stack; staging's clones).
	Ingress string `json:"ingress"`
	ContainerSettings
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
	// Attempts is the number of tries in all (default 4).
	Attempts int `json:"attempts"`
	// InitialInterval is the first backoff between tries (default 500ms).
	InitialInterval Duration `json:"initialInterval"`
}

// ACME is Traefik's certificate resolver.
type ACME struct {
	// Email is the ACME account's contact address (default none).
	Email string `json:"email"`
	// CAServer is the ACME directory URL (default empty: Let's Encrypt's
	// production directory).
	CAServer string `json:"caServer"`
	// Challenge proves control of the domains: dns (through Cloudflare, the
	// default when edge.zoneId is set), http (the default otherwise) or tls.
	Challenge string `json:"challenge"`
}

// SecurityHeaders are the guide's TLS-only security settings, applied at the
// proxy to every response, Django's or nginx's.
type SecurityHeaders struct {
	// HSTS is Strict-Transport-Security, sent only when TLS is on.
	HSTS HSTS `json:"hsts"`
	// ContentTypeNosniff sends X-Content-Type-Options: nosniff (default true).
	ContentTypeNosniff bool `json:"contentTypeNosniff"`
	// ReferrerPolicy is the Referrer-Policy header (default same-origin).
	ReferrerPolicy string `json:"referrerPolicy"`
	// FrameDeny sends X-Frame-Options: DENY (default true).
	FrameDeny bool `json:"frameDeny"`
}

// RespondingTimeouts are an entrypoint's transport.respondingTimeouts.
type RespondingTimeouts struct {
	// Read is readTimeout (default 60s).
	Read Duration `json:"read"`
	// Write is writeTimeout (default 60s).
	Write Duration `json:"write"`
	// Idle is idleTimeout (default 180s).
	Idle Duration `json:"idle"`
}

// TraefikMetrics is the Prometheus metrics configuration.
type TraefikMetrics struct {
	// Buckets are the latency histogram buckets, seconds (default 0.1, 0.3, 1.2, 5.0).
	Buckets []float64 `json:"buckets"`
	// Port of the metrics entrypoint (default 8082). It is never published
	// on the host: Prometheus scrapes it over the edge network. Traefik's
	// ping, which its healthcheck uses, answers on it too.
	Port int `json:"port"`
}

// DefaultTraefikSettings returns the guide's Traefik, with 1 CPU / 256 MiB
// limits and a 0.25 CPU / 64 MiB reservation.
func DefaultTraefikSettings() TraefikSettings {
	return TraefikSettings{
		Image:                     "traefik:v3.5",
		HTTPPort:                  80,
		HTTPSPort:                 443,
		HTTP2MaxConcurrentStreams: 250,
		RespondingTimeouts:        RespondingTimeouts{Read: Seconds(60), Write: Seconds(60), Idle: Seconds(180)},
		Metrics:                   TraefikMetrics{Buckets: []float64{0.1, 0.3, 1.2, 5.0}, Port: 8082},
		AccessLog:                 true,
		LogLevel:                  "INFO",
		SecurityHeaders: SecurityHeaders{
			HSTS:               GuideHSTS(),
			ContentTypeNosniff: true,
			ReferrerPolicy:     "same-origin",
			FrameDeny:          true,
		},
		Retry:                     Retry{Attempts: 4, InitialInterval: Duration(500 * time.Millisecond)},
		ProvidersThrottleDuration: 0,
		DialTimeout:               Seconds(2),
		Ingress:                   IngressOwn,
		// 15s to stop: in-flight requests finish (Traefik's own grace is 10s).
		ContainerSettings: guideContainer(NewResources(1, 256, 0.25, 64),
			Healthcheck{Interval: Seconds(10), Timeout: Seconds(5), Retries: 3, StartPeriod: Seconds(10)},
			Seconds(15)),
	}
}

// TraefikEnvironment is what the static configuration needs to know about
// the deployment: where to find its containers and whether TLS is on.
type TraefikEnvironment struct {
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
}

// Challenge is the ACME challenge the resolver uses: the configured one, or
// dns when a DNS provider is at hand, else http.
func (s TraefikSettings) Challenge(env TraefikEnvironment) string {
	switch {
	case s.ACME.Challenge != "":
		return s.ACME.Challenge
	case env.DNSProvider != "":
		return "dns"
	}
	return "http"
}

// The static configuration's model: the subset of Traefik v3's that this
// program writes, field names as Traefik spells them.
type (
	traefikStatic struct {
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
		Address   string            `yaml:"address"`
		HTTP      *traefikEntryHTTP `yaml:"http,omitempty"`
		HTTP2     *traefikHTTP2     `yaml:"http2,omitempty"`
		Transport *traefikTransport `yaml:"transport,omitempty"`
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
		Email         string            `yaml:"email,omitempty"`
		CAServer      string            `yaml:"caServer,omitempty"`
		Storage       string            `yaml:"storage"`
		DNSChallenge  *traefikDNS       `yaml:"dnsChallenge,omitempty"`
		HTTPChallenge *traefikHTTPChall `yaml:"httpChallenge,omitempty"`
		TLSChallenge  *struct{}         `yaml:"tlsChallenge,omitempty"`
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
	traefikPing struct {
		EntryPoint string `yaml:"entryPoint"`
	}
	traefikLog struct {
		Level string `yaml:"level"`
	}
)

// Names of the entrypoints. The container listens on the standard ports;
// the host ports are the settings'.
const (
	entryPointWeb       = "web"
	entryPointWebsecure = "websecure"
	entryPointMetrics   = "metrics"
)

// RenderTraefikStatic renders Traefik's static configuration (traefik.yml):
// the guide's HTTP/2 and timeout settings on every public entrypoint, the
// Prometheus metrics and ping on an unpublished one, and a Docker provider
// that only sees this deployment's containers that opt in by label.
func RenderTraefikStatic(s TraefikSettings, env TraefikEnvironment) string {
	public := func(port int) traefikEntryPoint {
		return traefikEntryPoint{
			Address: fmt.Sprintf(":%d", port),
			HTTP2:   &traefikHTTP2{MaxConcurrentStreams: s.HTTP2MaxConcurrentStreams},
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

// RenderTraefikDynamic renders the file provider's configuration
// (dynamic.yml): the security-headers middleware that every public router
// uses, with HSTS only when the site speaks TLS, and the backend's retry.
func RenderTraefikDynamic(s TraefikSettings, env TraefikEnvironment) string {
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
func providers(s TraefikSettings, env TraefikEnvironment) traefikProviders {
	discovery := &traefikDocker{
		Endpoint:         "unix:///var/run/docker.sock",
		ExposedByDefault: false,
		Network:          env.Network,
		Constraints:      labelConstraint(env.Labels),
	}
	p := traefikProviders{ThrottleDuration: s.ProvidersThrottleDuration.Go(), File: traefikFile{Filename: traefikDynamicPath, Watch: true}}
	if env.Swarm {
		p.Swarm = discovery
	} else {
		discovery.Watch = true
		p.Docker = discovery
	}
	return p
}

// labelConstraint is a Traefik constraint expression matching every label.
func labelConstraint(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("Label(`%s`, `%s`)", k, labels[k]))
	}
	return strings.Join(parts, " && ")
}

// HealthTest asks Traefik's own ping endpoint through its CLI.
func (s TraefikSettings) HealthTest() []string {
	return []string{"CMD", "traefik", "healthcheck", "--ping"}
}

var traefikLogLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"}

// Public reports whether the published ports are reachable from other hosts.
func (s TraefikSettings) Public() bool {
	ip := net.ParseIP(s.BindAddress)
	return ip == nil || !ip.IsLoopback()
}

// Check reports settings Traefik cannot start with.
func (s TraefikSettings) Check() Problems {
	var ps Problems
	checkImage(&ps, "image", s.Image)
	checkPort(&ps, "httpPort", s.HTTPPort)
	checkPort(&ps, "httpsPort", s.HTTPSPort)
	checkPort(&ps, "metrics.port", s.Metrics.Port)
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
		v   Duration
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
	if s.DialTimeout < Duration(time.Millisecond) {
		ps.Add("dialTimeout", "%q must be at least 1ms", s.DialTimeout.String())
	}
	if s.SecurityHeaders.HSTS.MaxAge < 0 {
		ps.Add("securityHeaders.hsts.maxAge", "%q must not be negative", s.SecurityHeaders.HSTS.MaxAge.String())
	}
	if !slices.Contains(traefikLogLevels, s.LogLevel) {
		ps.Add("logLevel", "%q is not a Traefik log level (one of %s)", s.LogLevel, strings.Join(traefikLogLevels, ", "))
	}
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// TraefikArgs are the inputs of a Traefik component.
type TraefikArgs struct {
	// Settings of the proxy; nil means DefaultTraefikSettings().
	Settings *TraefikSettings
	// Target is where the component deploys; its labels are what the
	// Docker provider matches on.
	Target
	// Site decides which entrypoints exist and are published.
	Site Site
	// Network is the edge network; NetworkName is its Docker name, which the
	// static configuration names.
	Network     pulumi.StringInput
	NetworkName string
	// DNSToken, when set, lets the ACME DNS challenge edit the Cloudflare
	// zone (secret; CF_DNS_API_TOKEN in Traefik's environment).
	DNSToken pulumi.StringInput
	// Select are the labels of the containers Traefik routes; nil selects
	// the deployment's own (Naming's labels).
	Select map[string]string
}

// Traefik is the reverse proxy in front of the deployment.
type Traefik struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec Spec
	// Server is the container, or Swarm service, that runs it.
	Server Deployed
	// Certificates is the volume of the ACME certificate store.
	Certificates *docker.Volume
	// Name is the container's Docker name.
	Name string
	// Static is the rendered traefik.yml; Dynamic the rendered dynamic.yml.
	Static  string
	Dynamic string
	// Environment is what they were rendered for.
	Environment TraefikEnvironment
}

// Where the certificate store is mounted and the dynamic configuration is.
const (
	traefikCertDir     = "/letsencrypt"
	traefikDynamicPath = "/etc/traefik/dynamic.yml"
)

// NewTraefik registers Traefik with its rendered static configuration, the
// Docker socket mounted read-only and a volume for its certificates.
func NewTraefik(ctx *pulumi.Context, name string, args *TraefikArgs, opts ...pulumi.ResourceOption) (*Traefik, error) {
	if args == nil || args.Network == nil || args.NetworkName == "" {
		return nil, errors.New("traefik: args with the edge network are required")
	}
	s, err := resolve("traefik", args.Settings, DefaultTraefikSettings, nil)
	if err != nil {
		return nil, err
	}

	selected := args.Select
	if selected == nil {
		selected = args.Naming.Labels
	}
	env := TraefikEnvironment{Network: args.NetworkName, Labels: selected, TLS: args.Site.TLS, Swarm: args.Runtime == RuntimeSwarm}
	if args.DNSToken != nil {
		env.DNSProvider = "cloudflare"
	}
	if args.Site.TLS && s.Challenge(env) == "dns" && env.DNSProvider == "" {
		return nil, errors.New("traefik: acme.challenge dns needs a Cloudflare zone and token")
	}
	c := &Traefik{
		Name:        args.Naming.Name("traefik"),
		Static:      RenderTraefikStatic(s, env),
		Dynamic:     RenderTraefikDynamic(s, env),
		Environment: env,
	}
	if err := ctx.RegisterComponentResource(typePrefix+"Traefik", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := pullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	c.Certificates, err = NewVolume(ctx, name+"-certificates", VolumeArgs{
		DockerName: args.Naming.Name("traefik-certificates"),
		Labels:     args.Naming.ComponentLabels("traefik"),
	}, parent)
	if err != nil {
		return nil, err
	}
	ports := []PublishedPort{{Internal: 80, External: s.HTTPPort, IP: s.BindAddress}}
	if args.Site.TLS {
		ports = append(ports, PublishedPort{Internal: 443, External: s.HTTPSPort, IP: s.BindAddress})
	}
	var secretEnv map[string]pulumi.StringInput
	if env.DNSProvider != "" && args.Site.TLS {
		// lego's Cloudflare provider reads its token from here.
		secretEnv = map[string]pulumi.StringInput{"CF_DNS_API_TOKEN": args.DNSToken}
	}
	w := Workload{
		Name:        c.Name,
		ImageSource: s.Image,
		Image:       runImage(args.Runtime, image),
		// The official image's entrypoint and command (it reads
		// /etc/traefik/traefik.yml); see stopExitScript.
		ImageEntrypoint: []string{"/entrypoint.sh"},
		Command:         []string{"traefik"},
		Files: []File{
			{Path: "/etc/traefik/traefik.yml", Content: pulumi.String(c.Static), Mode: "0444"},
			{Path: traefikDynamicPath, Content: pulumi.String(c.Dynamic), Mode: "0444"},
		},
		SecretEnv: secretEnv,
		Volumes: []VolumeMount{
			{HostPath: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true},
			{Volume: c.Certificates.Name, Target: traefikCertDir},
		},
		Networks: []pulumi.StringInput{args.Network},
		Ports:    ports,
		// The Swarm provider reads the swarm's API, which managers serve.
		Constraints: append([]string{"node.role == manager"}, args.Constraints...),
		Labels:      args.Naming.ComponentLabels("traefik"),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
	}
	c.Spec = w.Describe()
	c.Server, err = register(ctx, args.Runtime, name, w, parent)
	if err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": pulumi.String(c.Name)})
}
