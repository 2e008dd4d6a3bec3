package runtime

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// swarmRestart maps a container restart policy onto Swarm's conditions.
func swarmRestart(condition string) string {
	switch condition {
	case "always", "unless-stopped":
		return "any"
	case "no":
		return "none"
	}
	return condition
}

// newService registers the Swarm service a Workload describes: the same
// limits, reservations (for real, in NanoCPUs and bytes), healthcheck,
// restart policy and log rotation as the container, its files as Swarm
// configs, and its secrets as Swarm secrets — files under /run/secrets/,
// with the variable NAME_FILE pointing at each secret variable's file.
// swarmObjectMaxName is the longest name Docker gives a Swarm secret or
// config: it refuses a longer one at creation ("only 64 [a-zA-Z0-9-_.]
// characters allowed").
const swarmObjectMaxName = 64

// swarmObjectName names a Swarm secret or config: the service, the file and
// a digest of the content (which reveals nothing of it), as
// "<service>-<file>-<digest>". A name over Docker's limit keeps its
// beginning and ends in a digest of the whole name instead, so it stays
// unique for its service, file and content.
func swarmObjectName(service, file, content string) string {
	name := fmt.Sprintf("%s-%s-%s", service, file, digest(content)[:10])
	if len(name) <= swarmObjectMaxName {
		return name
	}
	return strings.TrimRight(name[:swarmObjectMaxName-11], "-_.") + "-" + digest(name)[:10]
}

func newService(ctx *pulumi.Context, name string, w Workload, opts ...pulumi.ResourceOption) (*docker.Service, error) {
	w = w.secretsAsFiles()
	s := w.Settings
	env := pulumi.StringMap{}
	for k, v := range w.Env {
		env[k] = pulumi.String(v)
	}
	var secrets docker.ServiceTaskSpecContainerSpecSecretArray
	var configs docker.ServiceTaskSpecContainerSpecConfigArray
	addSecret := func(file string, content pulumi.StringInput, mode int) error {
		base := strings.ReplaceAll(strings.TrimPrefix(file, SecretsDir+"/"), "/", "-")
		// Swarm secrets cannot change: a new value is a new secret, named
		// after a digest of its content (which reveals nothing of it).
		dockerName := pulumi.Unsecret(pulumi.ToSecret(content).(pulumi.StringOutput).ApplyT(func(v string) string {
			return swarmObjectName(w.Name, base, v)
		})).(pulumi.StringOutput)
		secret, err := docker.NewSecret(ctx, name+"-"+base, &docker.SecretArgs{
			Name: dockerName,
			Data: pulumi.ToSecret(content.ToStringOutput().ApplyT(func(v string) string {
				return base64.StdEncoding.EncodeToString([]byte(v))
			})).(pulumi.StringOutput),
		}, opts...)
		if err != nil {
			return err
		}
		secrets = append(secrets, docker.ServiceTaskSpecContainerSpecSecretArgs{
			SecretId: secret.ID(), SecretName: secret.Name, FileName: pulumi.String(file), FileMode: pulumi.Int(mode),
		})
		return nil
	}
	for _, f := range w.Files {
		mode, _ := strconv.ParseInt(f.Mode, 8, 32)
		if f.Secret {
			if err := addSecret(f.Path, f.Content, int(mode)); err != nil {
				return nil, err
			}
			continue
		}
		content, literal := f.Content.(pulumi.String)
		if !literal {
			// A Swarm config is named after its content, which must be
			// known when the program runs; content that flows from another
			// resource must go as a secret (File.Secret).
			return nil, fmt.Errorf("service %s: file %s: its content is not a literal, so it cannot become a Swarm config; mark the file secret to hand it over as a Swarm secret", w.Name, f.Path)
		}
		config, err := docker.NewServiceConfig(ctx, name+"-"+strings.ReplaceAll(path.Base(f.Path), ".", "-"), &docker.ServiceConfigArgs{
			// Configs cannot change either: named after their content.
			Name: pulumi.String(swarmObjectName(w.Name, path.Base(f.Path), string(content))),
			Data: pulumi.String(base64.StdEncoding.EncodeToString([]byte(content))),
		}, opts...)
		if err != nil {
			return nil, err
		}
		configs = append(configs, docker.ServiceTaskSpecContainerSpecConfigArgs{
			ConfigId: config.ID(), ConfigName: config.Name, FileName: pulumi.String(f.Path), FileMode: pulumi.Int(int(mode)),
		})
	}

	var mounts docker.ServiceTaskSpecContainerSpecMountArray
	for _, v := range w.Volumes {
		m := docker.ServiceTaskSpecContainerSpecMountArgs{Target: pulumi.String(v.Target), ReadOnly: pulumi.Bool(v.ReadOnly)}
		if v.HostPath != "" {
			m.Type, m.Source = pulumi.String("bind"), pulumi.String(v.HostPath)
		} else {
			m.Type, m.Source = pulumi.String("volume"), v.Volume
			if v.Driver.Name != "" || len(v.Driver.Options) > 0 {
				m.VolumeOptions = &docker.ServiceTaskSpecContainerSpecMountVolumeOptionsArgs{
					DriverName: pulumi.String(v.Driver.Name), DriverOptions: pulumi.ToStringMap(v.Driver.Options),
				}
			}
		}
		mounts = append(mounts, m)
	}
	if w.ShmSize > 0 {
		// A service has no --shm-size, and a tmpfs mount cannot carry the
		// size: the docker provider 4.10.0 panics on tmpfsOptions.sizeBytes
		// (kreuzwerker/terraform-provider-docker#563), and Docker ignores a
		// size at /dev/shm for services (moby#35271). A tmpfs at /dev/shm
		// with no size replaces Docker's 64M one: the kernel's default, half
		// the node's memory, and what it holds counts against the task's
		// memory limit, which is the real bound (docs/real-deploys-swarm-backups.md).
		mounts = append(mounts, docker.ServiceTaskSpecContainerSpecMountArgs{
			Type: pulumi.String("tmpfs"), Target: pulumi.String("/dev/shm"),
		})
	}
	for _, dir := range w.Privileges.writable() {
		mounts = append(mounts, docker.ServiceTaskSpecContainerSpecMountArgs{Type: pulumi.String("tmpfs"), Target: pulumi.String(dir)})
	}
	var networks docker.ServiceTaskSpecNetworksAdvancedArray
	for _, n := range w.Networks {
		networks = append(networks, docker.ServiceTaskSpecNetworksAdvancedArgs{Name: n})
	}
	var ports docker.ServiceEndpointSpecPortArray
	for _, p := range w.Ports {
		// Published on the node that runs the task, so Traefik sees the
		// client's own address.
		ports = append(ports, docker.ServiceEndpointSpecPortArgs{
			TargetPort: pulumi.Int(p.Internal), PublishedPort: pulumi.Int(p.External), PublishMode: pulumi.String("host"),
		})
	}
	replicas := max(1, w.Replicas)
	containerLabels := docker.ServiceTaskSpecContainerSpecLabelArray{}
	serviceLabels := docker.ServiceLabelArray{}
	for _, k := range slices.Sorted(maps.Keys(w.Labels)) {
		containerLabels = append(containerLabels, docker.ServiceTaskSpecContainerSpecLabelArgs{Label: pulumi.String(k), Value: pulumi.String(w.Labels[k])})
		// Traefik's Swarm provider reads the service's labels.
		serviceLabels = append(serviceLabels, docker.ServiceLabelArgs{Label: pulumi.String(k), Value: pulumi.String(w.Labels[k])})
	}
	task := &docker.ServiceTaskSpecArgs{
		ContainerSpec: &docker.ServiceTaskSpecContainerSpecArgs{
			Image:  w.Image,
			Labels: containerLabels,
			Healthcheck: &docker.ServiceTaskSpecContainerSpecHealthcheckArgs{
				Tests:       pulumi.ToStringArray(w.HealthTest),
				Interval:    pulumi.String(s.Healthcheck.Interval.Service()),
				Timeout:     pulumi.String(s.Healthcheck.Timeout.Service()),
				Retries:     pulumi.Int(s.Healthcheck.Retries),
				StartPeriod: pulumi.String(s.Healthcheck.StartPeriod.Service()),
			},
			Mounts:          mounts,
			Secrets:         secrets,
			Configs:         configs,
			StopGracePeriod: pulumi.String(s.StopTimeout.Service()),
			// The lockdown of hardening.go; a service has no
			// no-new-privileges and no PID limit (docs/architecture.md).
			ReadOnly: pulumi.Bool(true),
			CapDrops: pulumi.ToStringArray([]string{"ALL"}),
		},
		Resources: &docker.ServiceTaskSpecResourcesArgs{
			Limits: &docker.ServiceTaskSpecResourcesLimitsArgs{
				NanoCpus:    pulumi.Int(int(s.Resources.Limits.CPUs.NanoCPUs())),
				MemoryBytes: pulumi.Int(int(s.Resources.Limits.Memory.Bytes())),
			},
			Reservation: &docker.ServiceTaskSpecResourcesReservationArgs{
				NanoCpus:    pulumi.Int(int(s.Resources.Reservations.CPUs.NanoCPUs())),
				MemoryBytes: pulumi.Int(int(s.Resources.Reservations.Memory.Bytes())),
			},
		},
		RestartPolicy: &docker.ServiceTaskSpecRestartPolicyArgs{
			Condition:   pulumi.String(swarmRestart(s.Restart.Condition)),
			Delay:       pulumi.String(s.Restart.Delay.Service()),
			MaxAttempts: pulumi.Int(s.Restart.MaxAttempts),
			Window:      pulumi.String(s.Restart.Window.Service()),
		},
		LogDriver:         &docker.ServiceTaskSpecLogDriverArgs{Name: pulumi.String(s.Logs.Driver), Options: pulumi.ToStringMap(s.Logs.Options())},
		NetworksAdvanceds: networks,
	}
	spec := task.ContainerSpec.(*docker.ServiceTaskSpecContainerSpecArgs)
	if len(env) > 0 {
		// The provider reads no variables back as no map: an empty one
		// would show as a change on every preview.
		spec.Env = env
	}
	if c := w.Privileges.capabilities(); len(c) > 0 {
		spec.CapAdds = pulumi.ToStringArray(c)
	}
	if w.Privileges.User != "" {
		spec.User = pulumi.String(w.Privileges.User)
	}
	if len(w.Command) > 0 {
		// A service's Args is a container's command, and its Commands a
		// container's entrypoint.
		spec.Args = pulumi.ToStringArray(w.Command)
	}
	if len(w.Entrypoint) > 0 {
		spec.Commands = pulumi.ToStringArray(w.Entrypoint)
	}
	if len(w.Constraints) > 0 {
		task.Placement = &docker.ServiceTaskSpecPlacementArgs{Constraints: pulumi.ToStringArray(w.Constraints)}
	}
	args := &docker.ServiceArgs{
		Name:     pulumi.String(w.Name),
		Labels:   serviceLabels,
		Mode:     &docker.ServiceModeArgs{Replicated: &docker.ServiceModeReplicatedArgs{Replicas: pulumi.Int(replicas)}},
		TaskSpec: task,
		// Like a container's wait: the update goes on once every task runs.
		ConvergeConfig: &docker.ServiceConvergeConfigArgs{
			Delay:   pulumi.String("7s"),
			Timeout: pulumi.String((units.Duration(int64(replicas)+1) * (s.Healthcheck.ReadyWithin() + units.Seconds(30))).Docker()),
		},
	}
	// DNS round robin, no virtual IP: a service's name resolves to its
	// tasks' addresses. Nothing here needs a virtual IP (Traefik sends to
	// the tasks' addresses it reads from the swarm, and publishes its ports
	// in host mode, outside the routing mesh), and a virtual IP needs the
	// kernel's IPVS: on a node without it, every connection to a service's
	// name fails with "no route to host" (docs/real-deploys-swarm-backups.md).
	args.EndpointSpec = &docker.ServiceEndpointSpecArgs{Mode: pulumi.String("dnsrr"), Ports: ports}
	if u := w.Update; u != nil {
		args.UpdateConfig = &docker.ServiceUpdateConfigArgs{
			Parallelism: pulumi.Int(u.Parallelism), Delay: pulumi.String(u.Delay.Service()), Monitor: pulumi.String(u.Monitor.Service()),
			Order: pulumi.String(u.Order), FailureAction: pulumi.String(u.FailureAction),
		}
	}
	if r := w.Rollback; r != nil {
		args.RollbackConfig = &docker.ServiceRollbackConfigArgs{
			Parallelism: pulumi.Int(r.Parallelism), Delay: pulumi.String(r.Delay.Service()), Monitor: pulumi.String(r.Monitor.Service()),
			Order: pulumi.String(r.Order), FailureAction: pulumi.String(r.FailureAction),
		}
	}
	return docker.NewService(ctx, name, args, opts...)
}
