package backend

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/redis"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/traefik"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// backendImage is the backend's image as each consumer needs it.
type backendImage struct {
	// ID is the image's id on the host Pulumi talks to (containers).
	ID pulumi.StringOutput
	// Digest is the repository digest every Swarm node can pull, or the
	// image's id when no registry knows it (see SwarmImage).
	Digest pulumi.StringOutput
	// Source is what the image was made from: the reference pulled, or
	// the build context and its digest.
	Source string
}

// resolveImage pulls the configured image, or builds one from the local
// Dockerfile when no image is configured.
func resolveImage(ctx *pulumi.Context, name string, s Settings, args *Args, parent pulumi.ResourceOption) (backendImage, error) {
	if s.Image != "" {
		image, err := runtime.PullImage(ctx, name+"-image", s.Image, parent)
		if err != nil {
			return backendImage{}, err
		}
		return backendImage{ID: image.ImageId, Digest: runtime.SwarmImage(image.RepoDigest, image.ImageId), Source: s.Image}, nil
	}
	sum, err := runtime.ContextDigest(filepath.Join(args.Root, s.Build.Context))
	if err != nil {
		return backendImage{}, fmt.Errorf("backend: build context: %w", err)
	}
	dockerfile := s.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	built, err := docker.NewImage(ctx, name+"-build", &docker.ImageArgs{
		ImageName: pulumi.String(args.Naming.Name("backend") + ":local"),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.String(s.Build.Context),
			Dockerfile: pulumi.String(filepath.Join(s.Build.Context, dockerfile)),
		},
		SkipPush: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return backendImage{}, err
	}
	// For a local build RepoDigest is the image id, new with every rebuild;
	// it exists on this host only, which is why Swarm refuses a build.
	return backendImage{ID: built.RepoDigest, Digest: built.RepoDigest, Source: fmt.Sprintf("build %s@%s", s.Build.Context, sum)}, nil
}

// Args are the inputs of a Backend component.
type Args struct {
	// Settings of the backend; nil means DefaultSettings(), which has
	// no image: give settings with one, or with a build.
	Settings *Settings
	// Target is where the component deploys.
	runtime.Target
	// Site is what the backend serves.
	Site site.Site
	// Database is the Postgres component the backend uses.
	Database *postgres.Postgres
	// Redis is the Redis component the backend uses.
	Redis *redis.Redis
	// DatabasePassword, RedisPassword and SecretKey are the generated secrets.
	DatabasePassword pulumi.StringInput
	RedisPassword    pulumi.StringInput
	SecretKey        pulumi.StringInput
	// EdgeNetwork (Traefik's) and DataNetwork (Postgres's and Redis's).
	EdgeNetwork pulumi.StringInput
	DataNetwork pulumi.StringInput
	// StaticVolume receives collectstatic's output; MediaVolume holds uploads.
	StaticVolume pulumi.StringInput
	MediaVolume  pulumi.StringInput
	// SharedVolumes is the driver that gives every Swarm node the same static
	// and media files (NFS and the like); empty keeps local volumes.
	SharedVolumes runtime.VolumeDriver
	// Root is the project directory, which a build context is relative to.
	Root string
	// AppSecrets are the app's own secret variables (a Sentry DSN, an API
	// key), NAME to value: handed over as files like the generated secrets,
	// NAME_FILE naming /run/secrets/<name>. Their names must pass
	// CheckAppSecrets.
	AppSecrets map[string]pulumi.StringInput
	// SecretsRevision names the revision of the secrets, the generated ones
	// and AppSecrets: a new revision rolls the backend like any other change.
	SecretsRevision string
	// Jobs are the runs of the jobs the last update recorded: a migration
	// whose last run failed runs again as its next attempt. Nil: none.
	Jobs runtime.JobRuns
	// Proxy is the Traefik in front (and Cloudflare's hop when it proxies
	// the site): whose forwarded client addresses the backend believes, and
	// the HSTS policy the site sends. Its zero value believes no one.
	Proxy Proxy
}

// Backend is the set of Django containers behind Traefik.
type Backend struct {
	pulumi.ResourceState

	// Units are the containers, or the one Swarm service, that run it.
	Units []pulumi.Resource
	// Names are the containers' (or the service's) Docker names.
	Names []string
	// Spec describes one replica; Fingerprint, its digest, is in the names.
	Spec        runtime.Spec
	Fingerprint string
	// Roles are the roles' containers (or services), by role.
	Roles map[string]RoleUnits
	// Migration is the logical name of the migration step ("" if none).
	Migration string
	// Jobs are the records of its jobs' runs, for the next update.
	Jobs []runtime.JobRecord
	// Image is the image the replicas run, as a reference the host (every
	// node, on a swarm) finds again: the repository digest, or the image's
	// id when no registry knows it (a local build). A rollback deploys it
	// again by this reference.
	Image pulumi.StringOutput
}

// RoleUnits are what a role of the backend runs as.
type RoleUnits struct {
	// Names are the containers' (or the service's) Docker names.
	Names []string
	// Spec describes one of its containers.
	Spec runtime.Spec
}

// New registers Replicas identical Django containers, named after
// the digest of their spec: a change of image, environment or limits makes
// new containers, created and healthy before the old ones are deleted at the
// end of the update, so a release drops no request. A new image first runs
// its migrations; its containers start only if they passed.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Backend, error) {
	if args == nil || args.Database == nil || args.Redis == nil || args.DatabasePassword == nil ||
		args.RedisPassword == nil || args.SecretKey == nil || args.EdgeNetwork == nil || args.DataNetwork == nil ||
		args.StaticVolume == nil || args.MediaVolume == nil {
		return nil, errors.New("backend: args with database, redis, secrets, networks and volumes are required")
	}
	if len(args.Site.Domains) == 0 {
		return nil, errors.New("backend: the site needs at least one domain")
	}
	s, err := problems.Resolve("backend", args.Settings, DefaultSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Backend{}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Backend", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := resolveImage(ctx, name, s, args, parent)
	if err != nil {
		return nil, err
	}
	replica := runtime.Workload{
		Image:       image.ID,
		ImageSource: image.Source,
		Command:     s.Command,
		Env: Env(s, Endpoints{
			Site:         args.Site,
			DatabaseHost: args.Database.Host,
			DatabasePort: args.Database.Port,
			DatabaseName: args.Database.Database,
			DatabaseUser: args.Database.User,
			RedisHost:    args.Redis.Host,
			RedisPort:    args.Redis.Port,
			Proxy:        args.Proxy,
		}),
		SecretEnv: runtime.MergeMaps(args.AppSecrets, map[string]pulumi.StringInput{
			EnvDatabasePassword: args.DatabasePassword,
			EnvRedisPassword:    args.RedisPassword,
			EnvSecretKey:        args.SecretKey,
		}),
		SecretsRevision: args.SecretsRevision,
		Privileges:      s.Privileges,
		Volumes: []runtime.VolumeMount{
			{Volume: args.StaticVolume, Target: StaticRoot, Driver: args.SharedVolumes},
			{Volume: args.MediaVolume, Target: MediaRoot, Driver: args.SharedVolumes},
		},
		Networks:    []pulumi.StringInput{args.EdgeNetwork, args.DataNetwork},
		Labels:      runtime.MergeMaps(args.Naming.ComponentLabels("backend"), traefik.RouteLabels(s.Routes(args.Naming.Name("backend"), args.Site), args.Site)),
		HealthTest:  s.HealthTest(args.Site),
		Settings:    s.ContainerSettings,
		Replicas:    s.Replicas,
		Constraints: args.Constraints,
		Update:      &s.Rollout.Update,
		Rollback:    &s.Rollout.Rollback,
	}
	c.Spec = replica.Describe()
	c.Image = image.Digest
	c.Fingerprint = c.Spec.Fingerprint()

	// Nothing of the backend logs in before the database has the stack's
	// password.
	gate := func(image pulumi.StringOutput, after pulumi.StringOutput) pulumi.StringOutput {
		return pulumi.All(image, after).ApplyT(func(v []any) string { return v[0].(string) }).(pulumi.StringOutput)
	}
	release := image.ID
	if args.Runtime == runtime.Swarm {
		release = image.Digest
	}
	release = gate(release, args.Database.PasswordSet)
	if s.Migrate.Enabled() {
		// The migration step is a container on the host Pulumi talks to,
		// on Swarm too: a service cannot report how a one-shot run ended.
		job := replica
		job.Image = gate(image.ID, args.Database.PasswordSet)
		job.Name = args.Naming.Name("migrate")
		job.Networks = []pulumi.StringInput{args.DataNetwork}
		job.Labels = args.Naming.ComponentLabels("migrate")
		migrations, err := runMigrations(ctx, name, args.Jobs, s.Migrate, job, args.Database.Ready, parent)
		if err != nil {
			return nil, err
		}
		c.Migration, c.Jobs = migrations.Name, []runtime.JobRecord{migrations.Record}
		// The image reaches the backend only once its migrations passed:
		// a failure stops the update before any new task exists.
		release = gate(release, migrations.Passed)
	}
	replica.Image = release
	after := pulumi.DependsOn([]pulumi.Resource{args.Database.Ready, args.Redis.Server})

	if args.Runtime == runtime.Swarm {
		// One replicated service: Swarm rolls it start-first and rolls back
		// on failure, across nodes.
		replica.Name = args.Naming.Name("backend")
		service, err := runtime.Register(ctx, args.Runtime, name, replica, parent, after)
		if err != nil {
			return nil, err
		}
		c.Units, c.Names = []pulumi.Resource{service}, []string{replica.Name}
		if err := c.registerRoles(ctx, name, s, args, replica, parent, after); err != nil {
			return nil, err
		}
		return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"names": pulumi.ToStringArray(c.Names)})
	}
	// Each replica depends on the one before it. The engine deletes in the
	// reverse order of dependencies, so a release stops the old replicas
	// one after the other, each leaving Traefik's rotation before the next
	// begins: stopped at once, the first one's exit reloads Traefik's
	// configuration, which puts the second back in the rotation as it
	// closes its ports (measured: examples/backend/README.md, "Stopping
	// without dropping a request"). New replicas start one after the other
	// too, each waited healthy.
	//
	// The first starts once the database is ready, not once Redis's
	// container is seen healthy: that comes one 10 s probe interval after
	// Redis's start, and the backend's own healthcheck, 30 s after its
	// start, asks Redis anyway. The update still waits for Redis's
	// healthcheck, alongside.
	previous := []pulumi.Resource{args.Database.Ready}
	for i := 1; i <= s.Replicas; i++ {
		w := replica
		w.Name = args.Naming.Name(fmt.Sprintf("backend-%s-%d", c.Fingerprint, i))
		container, err := runtime.Register(ctx, args.Runtime, fmt.Sprintf("%s-%s-%d", name, c.Fingerprint, i), w, parent, pulumi.DependsOn(previous))
		if err != nil {
			return nil, err
		}
		previous = []pulumi.Resource{args.Database.Ready, container}
		c.Units = append(c.Units, container)
		c.Names = append(c.Names, w.Name)
	}
	if err := c.registerRoles(ctx, name, s, args, replica, parent, pulumi.DependsOn([]pulumi.Resource{args.Database.Ready})); err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"names": pulumi.ToStringArray(c.Names)})
}

// AllNames are the Docker names of everything that runs the backend's
// image and connects to the database: the web containers, then each
// role's, in the order of the roles' names. A restore stops them all.
func (c *Backend) AllNames() []string {
	names := slices.Clone(c.Names)
	for _, role := range slices.Sorted(maps.Keys(c.Roles)) {
		names = append(names, c.Roles[role].Names...)
	}
	return names
}

// registerRoles registers each role's containers, or its service on a
// swarm, from the web replica's workload (its image already gated by the
// migration step). A role's containers are named after the digest of its
// spec, like the web ones: a release starts the new ones before it deletes
// the old.
func (c *Backend) registerRoles(ctx *pulumi.Context, name string, s Settings, args *Args, web runtime.Workload, opts ...pulumi.ResourceOption) error {
	c.Roles = map[string]RoleUnits{}
	for _, role := range s.RoleNames() {
		w := roleWorkload(web, args, role, s.Roles[role])
		deployed := RoleUnits{Spec: w.Describe()}
		if args.Runtime == runtime.Swarm {
			// One service, <prefix>-<role>, which Swarm rolls itself.
			if w.Replicas > 0 {
				w.Name = args.Naming.Name(role)
				if _, err := runtime.Register(ctx, args.Runtime, name+"-"+role, w, opts...); err != nil {
					return err
				}
				deployed.Names = []string{w.Name}
			}
			c.Roles[role] = deployed
			continue
		}
		// Containers <prefix>-<role>-<spec digest>-<n>, as the web ones.
		fingerprint := deployed.Spec.Fingerprint()
		for i := 1; i <= w.Replicas; i++ {
			replica := w
			replica.Name = args.Naming.Name(fmt.Sprintf("%s-%s-%d", role, fingerprint, i))
			if _, err := runtime.Register(ctx, args.Runtime, fmt.Sprintf("%s-%s-%s-%d", name, role, fingerprint, i), replica, opts...); err != nil {
				return err
			}
			deployed.Names = append(deployed.Names, replica.Name)
		}
		c.Roles[role] = deployed
	}
	return nil
}
