package stacks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/backup"
	"github.com/djangostack/infra/components/edge"
	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/nginx"
	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/secrets"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/stacks/engine"
	"github.com/djangostack/infra/stacks/outputs"
	"github.com/djangostack/infra/stacks/stackname"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Deployment is what Register created.
type Deployment struct {
	Secrets  *secrets.Secrets
	Postgres *postgres.Postgres
	Redis    *redis.Redis
	Backend  *backend.Backend
	Nginx    *nginx.Nginx
	// Traefik is nil when the stack joins the host's shared Traefik.
	Traefik *traefik.Traefik
	// Backup is nil when backups are off.
	Backup *backup.Backup
	// Edge is nil when the stack has no Cloudflare zone.
	Edge *edge.Edge
	// Outputs are the stack outputs: the public URLs, every container's
	// Docker name, the backend's database and Redis URLs (secrets), and the
	// specs the next deployment compares with.
	Outputs pulumi.Map
	// Notes say what this deployment changes and what each change costs.
	Notes []string
	// running are the parts registered, by key.
	running map[string]running
	// lastJobs are the runs of the jobs the last deployment recorded.
	lastJobs runtime.JobRuns
	// fingerprintKey keys the fingerprint of the app's own secrets: the
	// last deployment's, or a new one (see secretsRevision).
	fingerprintKey []byte
	// Engine is the Docker Engine of the stack's host, as learnEngine
	// found it; unknown on a swarm, or when neither the host nor the last
	// deployment's record said.
	Engine engine.Version
}

// running is a part as it runs: the spec the next deployment compares
// with, and the Docker names of its containers (of its service on a swarm).
type running struct {
	spec  runtime.Spec
	names []string
}

// record notes a part the stack runs, for the outputs and the change notes.
func (d *Deployment) record(key string, spec runtime.Spec, names ...string) {
	if d.running == nil {
		d.running = map[string]running{}
	}
	d.running[key] = running{spec: spec, names: names}
}

// Register deploys a validated profile: it checks the data volumes against
// the last deployment, learns the host's Docker Engine (through prober;
// nil asks the daemon, engine.Dial) and fits the healthchecks to it, then
// registers the generated secrets, what the components share on the host,
// the data servers, the site and its ingress; it returns them with the
// stack outputs and the notes of what changes.
func Register(ctx *pulumi.Context, p Profile, names naming.Naming, previous PreviousReader, prober engine.Prober) (*Deployment, error) {
	d := &Deployment{}
	var guard destroyGuard
	if p.KeepData {
		if err := guard.watch(ctx); err != nil {
			return nil, err
		}
	}
	dataVolumes := map[string]string{"postgres": postgres.DataVolume(names), "media": names.Name("media")}
	prev, err := d.checkPrevious(ctx, p, previous, dataVolumes)
	if err != nil {
		return nil, err
	}
	var learnt, fitted []string
	d.Engine, learnt = learnEngine(ctx, p, prober, prev)
	p, fitted = withEngine(p, d.Engine)
	d.Notes = slices.Concat(d.Notes, learnt, fitted)
	if d.Secrets, err = secrets.New(ctx, "secrets", &secrets.Args{Rotation: p.Rotation}); err != nil {
		return nil, err
	}
	h, err := registerHost(ctx, p, names, dataVolumes)
	if err != nil {
		return nil, err
	}
	if err := d.registerData(ctx, p, h); err != nil {
		return nil, err
	}
	if err := d.registerSite(ctx, p, h); err != nil {
		return nil, err
	}
	if err := d.registerIngress(ctx, p, h); err != nil {
		return nil, err
	}
	if p.KeepData {
		if err := guard.register(ctx); err != nil {
			return nil, err
		}
	}
	parts := p.parts(dataVolumes)
	d.Notes = append(d.Notes, changeNotes(prev, parts, d)...)
	d.Outputs = d.outputs(p, prev, parts, dataVolumes)
	return d, nil
}

// checkPrevious reads what the last deployment recorded (nil previous is
// EngineOutputs) and refuses, before any change, a data volume that would
// start empty under a new name; where that is only a warning, it becomes a
// note. A record that cannot be read is a note too, and the deployment
// goes on as a first one would.
func (d *Deployment) checkPrevious(ctx *pulumi.Context, p Profile, previous PreviousReader, dataVolumes map[string]string) (Previous, error) {
	if previous == nil {
		previous = EngineOutputs{}
	}
	prev, err := previous.ReadPrevious(ctx)
	if err != nil {
		d.Notes = append(d.Notes, unreadPrevious(err))
		d.fingerprintKey = newFingerprintKey()
		return noPrevious(), nil
	}
	d.lastJobs = prev.Jobs
	d.fingerprintKey = prev.FingerprintKey
	if d.fingerprintKey == nil {
		d.fingerprintKey = newFingerprintKey()
	}
	volumeErrors, volumeWarnings := checkDataVolumes(ctx.Stack(), prev, dataVolumes, p.AllowDataVolumeReplacement)
	if err := volumeErrors.Err(); err != nil {
		return prev, fmt.Errorf("stack %s: refused before any change:\n%w", ctx.Stack(), err)
	}
	for _, w := range volumeWarnings {
		d.Notes = append(d.Notes, w.Error())
	}
	return prev, nil
}

// host is what the components of a stack share on its Docker host.
type host struct {
	// naming carries the ingress label when the host's shared Traefik
	// routes the stack.
	naming naming.Naming
	// withHost puts a component's resources on the stack's Docker provider.
	withHost pulumi.ResourceOption
	// target is where the site's parts run; dataTarget where Postgres,
	// Redis and the backup run (on a swarm, the node of their volumes).
	target, dataTarget runtime.Target
	// edgeName is the Docker name of the edge network, edge its name as an
	// input; data is the data network's name.
	edgeName   string
	edge, data pulumi.StringInput
	// static and media are the names of the shared volumes.
	static, media pulumi.StringInput
	// cloudflare is the Cloudflare API token, as a secret; nil without a
	// zone.
	cloudflare pulumi.StringInput
}

// registerHost registers the stack's Docker provider, its networks and the
// volumes the site's parts share.
func registerHost(ctx *pulumi.Context, p Profile, names naming.Naming, dataVolumes map[string]string) (*host, error) {
	// Every Docker resource goes through this stack's own provider, bound
	// to host.docker: nothing reaches the Docker of the machine running
	// Pulumi unless the stack says so.
	provider, err := dockerProvider(ctx, p)
	if err != nil {
		return nil, err
	}
	onHost := pulumi.Provider(provider)
	h := &host{withHost: pulumi.Providers(provider)}
	swarm := p.Runtime == runtime.Swarm
	if p.Traefik.Ingress != traefik.IngressOwn {
		// The host's shared Traefik routes what carries the ingress label.
		names.Labels = maps.Clone(names.Labels)
		names.Labels[naming.LabelIngress] = traefik.IngressHost
	}
	h.naming = names
	h.target = runtime.Target{Naming: names, Runtime: p.Runtime}
	h.dataTarget = h.target
	if swarm {
		// Postgres and Redis run where their volumes are.
		h.dataTarget.Constraints = []string{p.Swarm.DataConstraint()}
	}
	// edge: Traefik, nginx and the backend. data: the backend, Postgres and
	// Redis, with no route out of the host and no published port.
	if h.edgeName, h.edge, err = edgeNetwork(ctx, p, names, onHost); err != nil {
		return nil, err
	}
	data, err := runtime.NewNetwork(ctx, "data", runtime.NetworkArgs{DockerName: names.Name("data"), Labels: names.Labels, Internal: true, Overlay: swarm}, onHost)
	if err != nil {
		return nil, err
	}
	h.data = data.Name
	// Static files are collected again by every release; media files are
	// the users' uploads and are kept like the database.
	static, err := runtime.NewVolume(ctx, "static", runtime.VolumeArgs{DockerName: names.Name("static"), Labels: names.Labels}, onHost)
	if err != nil {
		return nil, err
	}
	h.static = static.Name
	media, err := runtime.NewVolume(ctx, "media", runtime.VolumeArgs{DockerName: dataVolumes["media"], Labels: names.Labels, Keep: p.KeepData}, onHost)
	if err != nil {
		return nil, err
	}
	h.media = media.Name
	if p.Edge.Enabled() {
		h.cloudflare = pulumi.ToSecret(pulumi.String(p.Credentials.CloudflareToken)).(pulumi.StringOutput)
	}
	return h, nil
}

// registerData registers Postgres, its backups when they are on, and Redis.
func (d *Deployment) registerData(ctx *pulumi.Context, p Profile, h *host) error {
	var err error
	if d.Postgres, err = postgres.New(ctx, "postgres", &postgres.Args{
		Settings:          &p.Postgres,
		Target:            h.dataTarget,
		Password:          d.Secrets.DatabasePassword,
		SuperuserPassword: d.Secrets.SuperuserPassword,
		Network:           h.data,
		KeepData:          p.KeepData,
		// The passwords' revisions name the step that sets them.
		PasswordRevision:  p.Rotation.Postgres,
		SuperuserRevision: p.Rotation.PostgresSuperuser,
		Jobs:              d.lastJobs,
	}, h.withHost); err != nil {
		return err
	}
	d.record("postgres", d.Postgres.Spec, d.Postgres.Host)
	if p.Backup.Enabled {
		var offsiteKey pulumi.StringInput
		if p.Backup.Offsite.Enabled() {
			offsiteKey = pulumi.ToSecret(pulumi.String(p.Credentials.OffsiteSecretKey)).(pulumi.StringOutput)
		}
		if d.Backup, err = backup.New(ctx, backup.Key, &backup.Args{
			Settings:         &p.Backup,
			Target:           h.dataTarget,
			Database:         d.Postgres,
			DatabaseImage:    p.Postgres.Image,
			Password:         d.Secrets.SuperuserPassword,
			Network:          h.data,
			KeepData:         p.KeepData,
			OffsiteSecretKey: offsiteKey,
		}, h.withHost); err != nil {
			return err
		}
		d.record(backup.Key, d.Backup.Spec, d.Backup.Name)
	}
	if d.Redis, err = redis.New(ctx, "redis", &redis.Args{
		Settings: &p.Redis,
		Target:   h.dataTarget,
		Password: d.Secrets.RedisPassword,
		Network:  h.data,
	}, h.withHost); err != nil {
		return err
	}
	d.record("redis", d.Redis.Spec, d.Redis.Host)
	return nil
}

// registerSite registers the backend and nginx, which serves its files.
func (d *Deployment) registerSite(ctx *pulumi.Context, p Profile, h *host) error {
	site := p.Site()
	var err error
	if d.Backend, err = backend.New(ctx, "backend", &backend.Args{
		Settings:         &p.Backend,
		Target:           h.target,
		Site:             site,
		Database:         d.Postgres,
		Redis:            d.Redis,
		DatabasePassword: d.Secrets.DatabasePassword,
		RedisPassword:    d.Secrets.RedisPassword,
		SecretKey:        d.Secrets.DjangoSecretKey,
		EdgeNetwork:      h.edge,
		DataNetwork:      h.data,
		StaticVolume:     h.static,
		MediaVolume:      h.media,
		SharedVolumes:    p.Swarm.SharedVolumes,
		Root:             ctx.RootDirectory(),
		AppSecrets:       appSecrets(p.Credentials.BackendSecrets),
		SecretsRevision:  secretsRevision(p, d.fingerprintKey),
		Jobs:             d.lastJobs,
		Proxy:            proxy(ctx.Project(), p, h.naming),
	}, h.withHost); err != nil {
		return err
	}
	d.record("backend", d.Backend.Spec, d.Backend.Names...)
	for role, r := range d.Backend.Roles {
		d.record(role, r.Spec, r.Names...)
	}
	if d.Nginx, err = nginx.New(ctx, "nginx", &nginx.Args{
		Settings:      &p.Nginx,
		Target:        h.target,
		Site:          site,
		Network:       h.edge,
		StaticVolume:  h.static,
		MediaVolume:   h.media,
		SharedVolumes: p.Swarm.SharedVolumes,
	}, h.withHost); err != nil {
		return err
	}
	d.record("nginx", d.Nginx.Spec, d.Nginx.Name)
	return nil
}

// registerIngress registers the stack's Traefik, unless it joins the
// host's shared one, and Cloudflare in front when a zone is configured.
func (d *Deployment) registerIngress(ctx *pulumi.Context, p Profile, h *host) error {
	var err error
	if p.Traefik.Ingress != traefik.IngressJoin {
		// A Traefik of the stack's own, or the host's shared one, which
		// routes every stack of the project that joins it.
		args := &traefik.Args{
			Settings:    &p.Traefik,
			Target:      h.target,
			Site:        p.Site(),
			Network:     h.edge,
			NetworkName: h.edgeName,
			DNSToken:    h.cloudflare,
			TrustedIPs:  p.Edge.ProxyRanges(),
			// The daemon the stack deploys through, when the stack names
			// its socket: a second daemon on a host listens elsewhere.
			DockerSocket: p.Host.Socket(),
		}
		if p.Traefik.Ingress == traefik.IngressHost {
			args.Select = map[string]string{
				naming.LabelProject: h.naming.Labels[naming.LabelProject],
				naming.LabelIngress: traefik.IngressHost,
			}
		}
		if d.Traefik, err = traefik.New(ctx, "traefik", args, h.withHost); err != nil {
			return err
		}
		d.record("traefik", d.Traefik.Spec, d.Traefik.Name)
		d.record("docker-api", d.Traefik.DockerAPISpec, d.Traefik.DockerAPIName)
	}
	if p.Edge.Enabled() {
		if d.Edge, err = edge.New(ctx, "edge", &edge.Args{
			Settings: p.Edge,
			Domains:  p.Domains,
			APIToken: h.cloudflare,
			Comment:  "managed by Pulumi: " + h.naming.Prefix,
		}); err != nil {
			return err
		}
	}
	return nil
}

// outputs are the stack outputs: what cmd/backupctl and cmd/stackctl need
// to reach the stack's host and find its containers, the public URLs, the
// backend's image and the previous release's, the backend's database and
// Redis URLs (secrets), and what the next deployment compares with.
func (d *Deployment) outputs(p Profile, prev Previous, parts []runtime.Part, dataVolumes map[string]string) pulumi.Map {
	containers := pulumi.StringMap{}
	specs := pulumi.Map{}
	for _, c := range parts {
		r, runs := d.running[c.Key]
		if !runs {
			continue
		}
		for i, name := range r.names {
			if c.Replicated {
				containers[fmt.Sprintf("%s-%d", c.Key, i+1)] = pulumi.String(name)
			} else {
				containers[c.Key] = pulumi.String(name)
			}
		}
		specs[c.Key] = pulumi.ToStringMap(r.spec)
	}
	if d.Backup != nil && d.Backup.OffsiteName != "" {
		containers[outputs.OffsiteContainer] = pulumi.String(d.Backup.OffsiteName)
	}
	out := pulumi.Map{
		outputs.DockerHost:  pulumi.String(p.Host.Docker),
		outputs.SSHOpts:     pulumi.ToStringArray(p.Host.SSHOpts),
		outputs.Runtime:     pulumi.String(string(p.Runtime)),
		outputs.Backends:    pulumi.ToStringArray(d.Backend.AllNames()),
		outputs.URLs:        pulumi.ToStringArray(p.Site().URLs()),
		outputs.Containers:  containers,
		outputs.DatabaseURL: d.Postgres.URL,
		outputs.RedisURL:    d.Redis.URL,
		outputs.Specs:       specs,
		outputs.DataVolumes: pulumi.ToStringMap(dataVolumes),
		outputs.Jobs:        runtime.RecordJobs(slices.Concat(d.Postgres.Jobs, d.Backend.Jobs)),
		// Secret: the state keeps it encrypted, as the passwords.
		outputs.FingerprintKey: pulumi.ToSecret(pulumi.String(hex.EncodeToString(d.fingerprintKey))),
		outputs.BackendImage:   d.Backend.Image,
		outputs.PreviousBackendImage: d.Backend.Image.ApplyT(func(image string) string {
			return previousImage(prev, image)
		}).(pulumi.StringOutput),
	}
	if engine := engineOutput(d.Engine); engine != nil {
		out[outputs.Engine] = engine
	}
	return out
}

// dockerProvider is the stack's Docker provider: its host, ssh options and
// registry login.
func dockerProvider(ctx *pulumi.Context, p Profile) (*docker.Provider, error) {
	args := &docker.ProviderArgs{Host: pulumi.String(p.Host.Docker)}
	if len(p.Host.SSHOpts) > 0 {
		args.SshOpts = pulumi.ToStringArray(p.Host.SSHOpts)
	}
	if r := p.Host.Registry; r.Address != "" {
		args.RegistryAuth = docker.ProviderRegistryAuthArray{docker.ProviderRegistryAuthArgs{
			Address:  pulumi.String(r.Address),
			Username: pulumi.String(r.Username),
			Password: pulumi.ToSecret(pulumi.String(p.Credentials.RegistryPassword)).(pulumi.StringOutput),
		}}
	}
	return docker.NewProvider(ctx, "docker", args)
}

// checkDockerEnvironment refuses to run when DOCKER_CONTEXT is set: the
// Docker provider lets it override host.docker, so a developer's own context
// could receive another stack's deployment.
func checkDockerEnvironment(getenv func(string) string, host Host) error {
	if context := getenv("DOCKER_CONTEXT"); context != "" {
		return fmt.Errorf("DOCKER_CONTEXT=%s is set, and the Docker provider would use that context instead of host.docker (%s); unset it to deploy", context, host.Docker)
	}
	return nil
}

// edgeNetwork is the network Traefik reaches the site's containers on: the
// stack's own, or, when the stack shares the host's Traefik, the project's
// ingress network — created by the stack that runs that Traefik, joined by
// name by the others (staging must be deployed before its clones).
func edgeNetwork(ctx *pulumi.Context, p Profile, names naming.Naming, opts ...pulumi.ResourceOption) (string, pulumi.StringInput, error) {
	args := runtime.NetworkArgs{DockerName: names.Name("edge"), Labels: names.Labels, Overlay: p.Runtime == runtime.Swarm}
	switch p.Traefik.Ingress {
	case traefik.IngressJoin:
		name := names.Shared("ingress")
		return name, pulumi.String(name), nil
	case traefik.IngressHost:
		args.DockerName = names.Shared("ingress")
		args.Labels = map[string]string{
			naming.LabelProject: names.Labels[naming.LabelProject],
			naming.LabelIngress: traefik.IngressHost,
		}
	}
	network, err := runtime.NewNetwork(ctx, "edge", args, opts...)
	if err != nil {
		return "", nil, err
	}
	return args.DockerName, network.Name, nil
}

// proxy is what the backend knows of what stands in front of it: the
// Traefik that routes the stack, by its Docker name (the stack's own; for
// a clone, the host's shared one, which staging runs), the hops that add
// to X-Forwarded-For (Cloudflare's too when the stack's records are
// proxied) and the site's HSTS policy.
func proxy(project string, p Profile, names naming.Naming) backend.Proxy {
	runs := names
	if p.Traefik.Ingress == traefik.IngressJoin {
		runs = naming.NewNaming(project, stackname.Staging)
	}
	hops := 1
	if len(p.Edge.ProxyRanges()) > 0 {
		hops = 2
	}
	return backend.Proxy{Hosts: []string{traefik.Host(runs)}, Hops: hops, HSTS: p.Traefik.SecurityHeaders.HSTS}
}

// appSecrets are the app's own secret variables as secret inputs.
func appSecrets(values map[string]string) map[string]pulumi.StringInput {
	if len(values) == 0 {
		return nil
	}
	secrets := map[string]pulumi.StringInput{}
	for name, value := range values {
		secrets[name] = pulumi.ToSecret(pulumi.String(value)).(pulumi.StringOutput)
	}
	return secrets
}

// secretsRevision names the revision of the backend's secrets: the rotation
// settings of the generated ones and, when the app has secrets of its own, a
// fingerprint of their names and values. A changed value changes the
// backend's fingerprint, so its containers are replaced one by one like in
// any release (an uploaded file that changes under the same container name
// could not be). The fingerprint is in plain text in the specs output and
// in the containers' names, so it is keyed: 48 bits of HMAC-SHA256 under
// key, a generated secret that the stack keeps (newFingerprintKey). Without
// the key, a value short enough to guess cannot be tried against it.
func secretsRevision(p Profile, key []byte) string {
	revision := fmt.Sprintf("postgres=%s redis=%s secretKey=%s", p.Rotation.Postgres, p.Rotation.Redis, p.Rotation.SecretKey)
	if len(p.Credentials.BackendSecrets) == 0 {
		return revision
	}
	h := hmac.New(sha256.New, key)
	for _, name := range slices.Sorted(maps.Keys(p.Credentials.BackendSecrets)) {
		fmt.Fprintf(h, "%s=%q\n", name, p.Credentials.BackendSecrets[name])
	}
	return fmt.Sprintf("%s app=%x", revision, h.Sum(nil)[:6])
}

// minFingerprintKey is the size of the fingerprint's key in bytes: that of
// SHA-256's output, as RFC 2104 advises for HMAC.
const minFingerprintKey = sha256.Size

// newFingerprintKey makes the fingerprint's key: random bytes from the
// operating system. A stack makes it once, in its first deployment, and
// keeps it as the secret output fingerprintKey, which each next deployment
// reads back with the rest of the last one's record. A deployment that
// cannot read that record makes a new one: the fingerprint, and with it the
// names of a backend with app secrets, change once, as in a release.
func newFingerprintKey() []byte {
	key := make([]byte, minFingerprintKey)
	// crypto/rand.Read never returns an error: it crashes the program
	// when the system's generator fails.
	_, _ = rand.Read(key)
	return key
}
