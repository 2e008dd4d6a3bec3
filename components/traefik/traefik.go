package traefik

import (
	"errors"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args are the inputs of a Traefik component.
type Args struct {
	// Settings of the proxy; nil means DefaultSettings().
	Settings *Settings
	// Target is where the component deploys; its labels are what the
	// Docker provider matches on.
	runtime.Target
	// Site decides which entrypoints exist and are published.
	Site site.Site
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
	// TrustedIPs are the addresses and ranges whose X-Forwarded-For the
	// public entrypoints believe (Environment.TrustedIPs); nil trusts no one.
	TrustedIPs []string
	// DockerSocket is the path, on the host, of the socket of the Docker
	// daemon that runs the stack, which the Docker API proxy mounts; empty
	// is DefaultDockerSocket.
	DockerSocket string
}

// DefaultDockerSocket is where a Docker daemon listens unless told
// otherwise.
const DefaultDockerSocket = "/var/run/docker.sock"

// Traefik is the reverse proxy in front of the deployment.
type Traefik struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec runtime.Spec
	// Server is the container, or Swarm service, that runs it.
	Server pulumi.Resource
	// Certificates is the volume of the ACME certificate store.
	Certificates *docker.Volume
	// Name is the container's Docker name.
	Name string
	// DockerAPISpec and DockerAPIName are the Docker API proxy's Spec and
	// Docker name.
	DockerAPISpec runtime.Spec
	DockerAPIName string
	// Static is the rendered traefik.yml; Dynamic the rendered dynamic.yml.
	Static  string
	Dynamic string
	// Environment is what they were rendered for.
	Environment Environment
}

// Where the certificate store is mounted, and the dynamic configuration and
// the private ACME CA's roots are.
const (
	traefikCertDir     = "/letsencrypt"
	traefikDynamicPath = "/etc/traefik/dynamic.yml"
	traefikACMECAPath  = "/etc/traefik/acme-ca.pem"
)

// New registers Traefik with its rendered static configuration, the proxy
// through which it reads the Docker API, and a volume for its certificates.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Traefik, error) {
	if args == nil || args.Network == nil || args.NetworkName == "" {
		return nil, errors.New("traefik: args with the edge network are required")
	}
	s, err := problems.Resolve("traefik", args.Settings, DefaultSettings, nil)
	if err != nil {
		return nil, err
	}

	selected := args.Select
	if selected == nil {
		selected = args.Naming.Labels
	}
	env := Environment{Network: args.NetworkName, Labels: selected, TLS: args.Site.TLS, Swarm: args.Runtime == runtime.Swarm,
		DockerAPI: dockerAPIEndpoint(args.Naming.Name("docker-api")), TrustedIPs: args.TrustedIPs}
	if args.DNSToken != nil {
		env.DNSProvider = "cloudflare"
	}
	if args.Site.TLS && s.Challenge(env) == "dns" && env.DNSProvider == "" {
		return nil, errors.New("traefik: acme.challenge dns needs a Cloudflare zone and token")
	}
	c := &Traefik{
		Name:        args.Naming.Name("traefik"),
		Static:      RenderStatic(s, env),
		Dynamic:     RenderDynamic(s, env),
		Environment: env,
	}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Traefik", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := runtime.PullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	c.Certificates, err = runtime.NewVolume(ctx, name+"-certificates", runtime.VolumeArgs{
		DockerName: args.Naming.Name("traefik-certificates"),
		Labels:     args.Naming.ComponentLabels("traefik"),
	}, parent)
	if err != nil {
		return nil, err
	}
	api, apiServer, apiNetwork, err := newDockerAPI(ctx, name, s.DockerAPI, args, parent)
	if err != nil {
		return nil, err
	}
	c.DockerAPISpec, c.DockerAPIName = api.Describe(), api.Name
	ports := []runtime.PublishedPort{{Internal: 80, External: s.HTTPPort, IP: s.BindAddress}}
	if args.Site.TLS {
		ports = append(ports, runtime.PublishedPort{Internal: 443, External: s.HTTPSPort, IP: s.BindAddress})
	}
	var secretEnv map[string]pulumi.StringInput
	if env.DNSProvider != "" && args.Site.TLS {
		// lego's Cloudflare provider reads its token from here.
		secretEnv = map[string]pulumi.StringInput{"CF_DNS_API_TOKEN": args.DNSToken}
	}
	w := runtime.Workload{
		Name:        c.Name,
		ImageSource: s.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		// The official image's entrypoint and command (it reads
		// /etc/traefik/traefik.yml); see stopExitScript.
		ImageEntrypoint: []string{"/entrypoint.sh"},
		Command:         []string{"traefik"},
		Files:           traefikFiles(s, env, c.Static, c.Dynamic),
		SecretEnv:       secretEnv,
		Volumes:         []runtime.VolumeMount{{Volume: c.Certificates.Name, Target: traefikCertDir}},
		// Root, for the certificates it has kept in its volume since its
		// first start, with one capability: listening on ports 80 and 443.
		Privileges: runtime.Privileges{Capabilities: []string{"NET_BIND_SERVICE"}},
		Networks:   []pulumi.StringInput{args.Network, apiNetwork},
		Ports:      ports,
		// The Swarm provider reads the swarm's API, which managers serve.
		Constraints: append([]string{"node.role == manager"}, args.Constraints...),
		Labels:      args.Naming.ComponentLabels("traefik"),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
	}
	c.Spec = w.Describe()
	c.Server, err = runtime.Register(ctx, args.Runtime, name, w, parent, pulumi.DependsOn([]pulumi.Resource{apiServer}))
	if err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": pulumi.String(c.Name)})
}

// traefikFiles are the files Traefik reads: its static and dynamic
// configuration, and the private ACME CA's roots when the static
// configuration names them. The roots are not secret; a Swarm service
// gets them as a config, as it does the configuration.
func traefikFiles(s Settings, env Environment, static, dynamic string) []runtime.File {
	files := []runtime.File{
		{Path: "/etc/traefik/traefik.yml", Content: pulumi.String(static), Mode: "0444"},
		{Path: traefikDynamicPath, Content: pulumi.String(dynamic), Mode: "0444"},
	}
	if env.TLS && s.ACME.TrustsPrivateCA() {
		files = append(files, s.ACME.CACertificates.File(traefikACMECAPath))
	}
	return files
}

// Part describes Traefik to the stack. It is sized even when the stack
// joins the host's shared Traefik: its settings are checked like every
// part's.
func (s Settings) Part() runtime.Part {
	return runtime.Part{Key: "traefik", Count: 1, Settings: s.ContainerSettings, Image: s.Image, Check: s.Check,
		Cost: runtime.FixedCost("its container is replaced: the whole site is unreachable for a few seconds while Traefik starts " +
			"again; its certificates are kept")}
}
