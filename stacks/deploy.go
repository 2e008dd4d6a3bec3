package stacks

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"github.com/djangostack/infra/components"
	"github.com/djangostack/infra/components/edge"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Deployment is what Register created.
type Deployment struct {
	Secrets  *components.Secrets
	Postgres *components.Postgres
	Redis    *components.Redis
	Backend  *components.Backend
	Nginx    *components.Nginx
	// Traefik is nil when the stack joins the host's shared Traefik.
	Traefik *components.Traefik
	// Backup is nil when backups are off.
	Backup *components.Backup
	// Edge is nil when the stack has no Cloudflare zone.
	Edge *edge.Edge
	// Outputs are the stack outputs: the public URLs, every container's
	// Docker name, the backend's database and Redis URLs (secrets), and the
	// specs the next deployment compares with.
	Outputs pulumi.Map
	// Notes say what this deployment changes and what each change costs.
	Notes []string
}

// Register deploys a validated profile: the generated secrets, the stack's
// Docker provider, networks and shared volumes, then the components; it
// returns them with the stack outputs and the notes of what changes.
func Register(ctx *pulumi.Context, p Profile, naming components.Naming) (*Deployment, error) {
	site := p.Site()
	d := &Deployment{}
	prev, err := readPrevious(ctx)
	if err != nil {
		return nil, err
	}
	dataVolumes := map[string]string{"postgres": components.PostgresDataVolume(naming), "media": naming.Name("media")}
	volumeErrors, volumeWarnings := checkDataVolumes(ctx.Stack(), prev, dataVolumes, p.AllowDataVolumeReplacement)
	if err := volumeErrors.Err(); err != nil {
		return nil, fmt.Errorf("stack %s: refused before any change:\n%w", ctx.Stack(), err)
	}
	for _, w := range volumeWarnings {
		d.Notes = append(d.Notes, w.Error())
	}
	if d.Secrets, err = components.NewSecrets(ctx, "secrets", &components.SecretsArgs{Rotation: p.Rotation}); err != nil {
		return nil, err
	}
	// Every Docker resource goes through this stack's own provider, bound
	// to host.docker: nothing reaches the Docker of the machine running
	// Pulumi unless the stack says so.
	provider, err := dockerProvider(ctx, p)
	if err != nil {
		return nil, err
	}
	onHost := pulumi.Provider(provider)
	withHost := pulumi.Providers(provider)
	swarm := p.Runtime == components.RuntimeSwarm
	if p.Traefik.Ingress != components.IngressOwn {
		// The host's shared Traefik routes what carries the ingress label.
		naming.Labels = maps.Clone(naming.Labels)
		naming.Labels[components.LabelIngress] = components.IngressHost
	}
	target := components.Target{Naming: naming, Runtime: p.Runtime}
	dataTarget := target
	if swarm {
		// Postgres and Redis run where their volumes are.
		dataTarget.Constraints = []string{p.Swarm.DataConstraint()}
	}
	// edge: Traefik, nginx and the backend. data: the backend, Postgres and
	// Redis, with no route out of the host and no published port.
	edgeName, edgeNet, err := edgeNetwork(ctx, p, naming, onHost)
	if err != nil {
		return nil, err
	}
	data, err := components.NewNetwork(ctx, "data", components.NetworkArgs{DockerName: naming.Name("data"), Labels: naming.Labels, Internal: true, Overlay: swarm}, onHost)
	if err != nil {
		return nil, err
	}
	// Static files are collected again by every release; media files are
	// the users' uploads and are kept like the database.
	static, err := components.NewVolume(ctx, "static", components.VolumeArgs{DockerName: naming.Name("static"), Labels: naming.Labels}, onHost)
	if err != nil {
		return nil, err
	}
	media, err := components.NewVolume(ctx, "media", components.VolumeArgs{DockerName: dataVolumes["media"], Labels: naming.Labels, Keep: p.KeepData}, onHost)
	if err != nil {
		return nil, err
	}

	if d.Postgres, err = components.NewPostgres(ctx, "postgres", &components.PostgresArgs{
		Settings: &p.Postgres,
		Target:   dataTarget,
		Password: d.Secrets.DatabasePassword,
		Network:  data.Name,
		KeepData: p.KeepData,
	}, withHost); err != nil {
		return nil, err
	}
	if p.Backup.Enabled {
		var offsiteKey pulumi.StringInput
		if p.Backup.Offsite.Enabled() {
			offsiteKey = pulumi.ToSecret(pulumi.String(p.Credentials.OffsiteSecretKey)).(pulumi.StringOutput)
		}
		if d.Backup, err = components.NewBackup(ctx, "backup", &components.BackupArgs{
			Settings:         &p.Backup,
			Target:           dataTarget,
			Database:         d.Postgres,
			DatabaseImage:    p.Postgres.Image,
			Password:         d.Secrets.DatabasePassword,
			Network:          data.Name,
			KeepData:         p.KeepData,
			OffsiteSecretKey: offsiteKey,
		}, withHost); err != nil {
			return nil, err
		}
	}
	if d.Redis, err = components.NewRedis(ctx, "redis", &components.RedisArgs{
		Settings: &p.Redis,
		Target:   dataTarget,
		Password: d.Secrets.RedisPassword,
		Network:  data.Name,
	}, withHost); err != nil {
		return nil, err
	}
	if d.Backend, err = components.NewBackend(ctx, "backend", &components.BackendArgs{
		Settings:         &p.Backend,
		Target:           target,
		Site:             site,
		Database:         d.Postgres,
		Redis:            d.Redis,
		DatabasePassword: d.Secrets.DatabasePassword,
		RedisPassword:    d.Secrets.RedisPassword,
		SecretKey:        d.Secrets.DjangoSecretKey,
		EdgeNetwork:      edgeNet,
		DataNetwork:      data.Name,
		StaticVolume:     static.Name,
		MediaVolume:      media.Name,
		SharedVolumes:    p.Swarm.SharedVolumes,
		Root:             ctx.RootDirectory(),
		AppSecrets:       appSecrets(p.Credentials.BackendSecrets),
		SecretsRevision:  secretsRevision(p),
	}, withHost); err != nil {
		return nil, err
	}
	if d.Nginx, err = components.NewNginx(ctx, "nginx", &components.NginxArgs{
		Settings:      &p.Nginx,
		Target:        target,
		Site:          site,
		Network:       edgeNet,
		StaticVolume:  static.Name,
		MediaVolume:   media.Name,
		SharedVolumes: p.Swarm.SharedVolumes,
	}, withHost); err != nil {
		return nil, err
	}
	var cloudflareToken pulumi.StringInput
	if p.Edge.Enabled() {
		cloudflareToken = pulumi.ToSecret(pulumi.String(p.Credentials.CloudflareToken)).(pulumi.StringOutput)
	}
	if p.Traefik.Ingress != components.IngressJoin {
		// A Traefik of the stack's own, or the host's shared one, which
		// routes every stack of the project that joins it.
		traefik := &components.TraefikArgs{
			Settings:    &p.Traefik,
			Target:      target,
			Site:        site,
			Network:     edgeNet,
			NetworkName: edgeName,
			DNSToken:    cloudflareToken,
		}
		if p.Traefik.Ingress == components.IngressHost {
			traefik.Select = map[string]string{
				components.LabelProject: naming.Labels[components.LabelProject],
				components.LabelIngress: components.IngressHost,
			}
		}
		if d.Traefik, err = components.NewTraefik(ctx, "traefik", traefik, withHost); err != nil {
			return nil, err
		}
	}
	if p.Edge.Enabled() {
		if d.Edge, err = edge.New(ctx, "edge", &edge.Args{
			Settings: p.Edge,
			Domains:  p.Domains,
			APIToken: cloudflareToken,
			Comment:  "managed by Pulumi: " + naming.Prefix,
		}); err != nil {
			return nil, err
		}
	}

	containers := pulumi.StringMap{
		"postgres": pulumi.String(d.Postgres.Host),
		"redis":    pulumi.String(d.Redis.Host),
		"nginx":    pulumi.String(d.Nginx.Name),
	}
	for i, name := range d.Backend.Names {
		containers[fmt.Sprintf("backend-%d", i+1)] = pulumi.String(name)
	}
	specs := map[string]components.Spec{
		"postgres": d.Postgres.Spec, "redis": d.Redis.Spec, "backend": d.Backend.Spec,
		"nginx": d.Nginx.Spec,
	}
	if d.Traefik != nil {
		containers["traefik"] = pulumi.String(d.Traefik.Name)
		specs["traefik"] = d.Traefik.Spec
	}
	if d.Backup != nil {
		containers["backup"] = pulumi.String(d.Backup.Name)
		specs["backup"] = d.Backup.Spec
	}
	d.Notes = append(d.Notes, changeNotes(prev, specs, dataVolumes)...)
	specOutputs := pulumi.Map{}
	for component, spec := range specs {
		specOutputs[component] = pulumi.ToStringMap(spec)
	}
	d.Outputs = pulumi.Map{
		// What cmd/backupctl needs to find the stack's containers.
		"dockerHost":      pulumi.String(p.Host.Docker),
		"runtime":         pulumi.String(string(p.Runtime)),
		"backends":        pulumi.ToStringArray(d.Backend.Names),
		"urls":            pulumi.ToStringArray(site.URLs()),
		"containers":      containers,
		"databaseUrl":     d.Postgres.URL,
		"redisUrl":        d.Redis.URL,
		outputSpecs:       specOutputs,
		outputDataVolumes: pulumi.ToStringMap(dataVolumes),
	}
	return d, nil
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
func edgeNetwork(ctx *pulumi.Context, p Profile, naming components.Naming, opts ...pulumi.ResourceOption) (string, pulumi.StringInput, error) {
	args := components.NetworkArgs{DockerName: naming.Name("edge"), Labels: naming.Labels, Overlay: p.Runtime == components.RuntimeSwarm}
	switch p.Traefik.Ingress {
	case components.IngressJoin:
		name := naming.Shared("ingress")
		return name, pulumi.String(name), nil
	case components.IngressHost:
		args.DockerName = naming.Shared("ingress")
		args.Labels = map[string]string{
			components.LabelProject: naming.Labels[components.LabelProject],
			components.LabelIngress: components.IngressHost,
		}
	}
	network, err := components.NewNetwork(ctx, "edge", args, opts...)
	if err != nil {
		return "", nil, err
	}
	return args.DockerName, network.Name, nil
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
// digest of their names and values. A changed value changes the backend's
// fingerprint, so its containers are replaced one by one like in any release
// (an uploaded file that changes under the same container name could not
// be). The digest is 48 bits of SHA-256 over every value at once; it gives
// away nothing of a key or a token, only of a value short enough to guess.
func secretsRevision(p Profile) string {
	revision := fmt.Sprintf("postgres=%s redis=%s secretKey=%s", p.Rotation.Postgres, p.Rotation.Redis, p.Rotation.SecretKey)
	if len(p.Credentials.BackendSecrets) == 0 {
		return revision
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(p.Credentials.BackendSecrets)) {
		fmt.Fprintf(h, "%s=%q\n", name, p.Credentials.BackendSecrets[name])
	}
	return fmt.Sprintf("%s app=%x", revision, h.Sum(nil)[:6])
}
