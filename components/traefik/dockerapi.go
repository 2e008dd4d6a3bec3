package traefik

import (
	"fmt"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DockerAPI is the proxy through which Traefik reads the Docker API. It alone
// mounts the host's Docker socket, and passes on only the reads Traefik's
// provider makes: whoever takes Traefik over cannot create a container (a
// read-only mount of the socket would restrict nothing of the API, and
// Docker's API is root on the host).
type DockerAPI struct {
	// Image is the proxy's image (default tecnativa/docker-socket-proxy:0.3.0):
	// HAProxy, which answers 403 to any request its environment does not
	// allow: every method but GET and HEAD, every API section but those
	// set to 1.
	Image string `json:"image"`
	runtime.ContainerSettings
}

// DockerAPIPort is where the proxy listens, on the Docker API network only.
const DockerAPIPort = 2375

// DefaultDockerAPI is the proxy with 0.25 CPU / 64 MiB limits and a
// 0.1 CPU / 16 MiB reservation: HAProxy passing a few reads a second.
// Unless-stopped: its image's entrypoint, unknown here, may exit 0 when
// stopped, and after a reboot Docker starts again only what failed under
// on-failure (docs/architecture.md, "From a workload to a container").
func DefaultDockerAPI() DockerAPI {
	c := runtime.GuideContainer(runtime.NewResources(0.25, 64, 0.1, 16),
		runtime.Healthcheck{Interval: units.Seconds(10), Timeout: units.Seconds(5), Retries: 3, StartPeriod: units.Seconds(5)},
		units.Seconds(10))
	c.Restart.Condition, c.Restart.MaxAttempts = "unless-stopped", 0
	return DockerAPI{Image: "tecnativa/docker-socket-proxy:0.3.0", ContainerSettings: c}
}

// Check reports an image that is no reference and settings that cannot work.
func (d DockerAPI) Check() problems.Problems {
	var ps problems.Problems
	units.CheckImage(&ps, "image", d.Image)
	return append(ps, d.ContainerSettings.Check()...)
}

// Env is what the proxy lets through, as its image reads it: the sections
// of the API the provider reads, by GET or HEAD only (POST=0). The Docker
// provider lists and inspects containers and watches their events; the
// Swarm provider lists services, tasks and networks and inspects the node
// of each task.
func (d DockerAPI) Env(swarm bool) map[string]string {
	env := map[string]string{"POST": "0", "EVENTS": "1", "PING": "1", "VERSION": "1"}
	if swarm {
		env["SERVICES"], env["TASKS"], env["NETWORKS"], env["NODES"] = "1", "1", "1", "1"
	} else {
		env["CONTAINERS"] = "1"
	}
	return env
}

// HealthTest asks the proxy for Docker's _ping, through itself.
func (d DockerAPI) HealthTest() []string {
	return []string{"CMD", "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/_ping", DockerAPIPort)}
}

// dockerAPIEndpoint is the Docker API as Traefik reaches it: the proxy's name on
// their network of their own.
func dockerAPIEndpoint(host string) string {
	return fmt.Sprintf("tcp://%s:%d", host, DockerAPIPort)
}

// Part describes the proxy to the stack.
func (d DockerAPI) Part() runtime.Part {
	return runtime.Part{Key: "docker-api", Config: "traefik.dockerApi", Count: 1, Settings: d.ContainerSettings, Image: d.Image, Check: d.Check,
		Cost: runtime.FixedCost("its container is replaced: Traefik keeps its routes, and sees containers that start or stop meanwhile once it is back")}
}

// newDockerAPI registers the proxy and the network it shares with Traefik
// alone.
func newDockerAPI(ctx *pulumi.Context, name string, d DockerAPI, args *Args, parent pulumi.ResourceOption) (*runtime.Workload, pulumi.Resource, pulumi.StringOutput, error) {
	network, err := runtime.NewNetwork(ctx, name+"-docker-api", runtime.NetworkArgs{
		DockerName: args.Naming.Name("docker-api-net"),
		Labels:     args.Naming.ComponentLabels("traefik"),
		// Nothing but Traefik reaches the proxy, and the proxy nothing.
		Internal: true,
		Overlay:  args.Runtime == runtime.Swarm,
	}, parent)
	if err != nil {
		return nil, nil, pulumi.StringOutput{}, err
	}
	image, err := runtime.PullImage(ctx, name+"-docker-api-image", d.Image, parent)
	if err != nil {
		return nil, nil, pulumi.StringOutput{}, err
	}
	socket := args.DockerSocket
	if socket == "" {
		socket = DefaultDockerSocket
	}
	w := runtime.Workload{
		Name:        args.Naming.Name("docker-api"),
		ImageSource: d.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		Env:         d.Env(args.Runtime == runtime.Swarm),
		Volumes:     []runtime.VolumeMount{{HostPath: socket, Target: DefaultDockerSocket, ReadOnly: true}},
		// Root, the socket's owner, with no capability. HAProxy writes
		// its runtime files under /run.
		Privileges:  runtime.Privileges{User: "root", Writable: []string{"/run"}},
		Networks:    []pulumi.StringInput{network.Name},
		Constraints: append([]string{"node.role == manager"}, args.Constraints...),
		Labels:      args.Naming.ComponentLabels("docker-api"),
		HealthTest:  d.HealthTest(),
		Settings:    d.ContainerSettings,
	}
	server, err := runtime.Register(ctx, args.Runtime, name+"-docker-api", w, parent)
	if err != nil {
		return nil, nil, pulumi.StringOutput{}, err
	}
	return &w, server, network.Name, nil
}
