package runtime

import (
	"maps"
	"slices"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypePrefix starts the type token of every component of this package.
const TypePrefix = "django-stack:components:"

// PullImage registers the image a container runs. Containers get its ImageId,
// not its name, so a preview shows no change while the tag stays the same.
// The image is kept on the host when the resource goes, because a rollback
// may need it back.
func PullImage(ctx *pulumi.Context, name, ref string, opts ...pulumi.ResourceOption) (*docker.RemoteImage, error) {
	return docker.NewRemoteImage(ctx, name, &docker.RemoteImageArgs{
		Name:        pulumi.String(ref),
		KeepLocally: pulumi.Bool(true),
	}, opts...)
}

// VolumeArgs describe a named Docker volume.
type VolumeArgs struct {
	// DockerName is the volume's name on the host.
	DockerName string
	// Labels on the volume.
	Labels map[string]string
	// Keep protects the volume from deletion by Pulumi and keeps it on the
	// host when the resource is removed from the program or the stack is
	// destroyed: it holds data no redeploy can bring back.
	Keep bool
}

// NewVolume registers a named volume.
func NewVolume(ctx *pulumi.Context, name string, args VolumeArgs, opts ...pulumi.ResourceOption) (*docker.Volume, error) {
	if args.Keep {
		opts = append(opts, pulumi.Protect(true), pulumi.RetainOnDelete(true))
	}
	labels := make(docker.VolumeLabelArray, 0, len(args.Labels))
	for _, k := range slices.Sorted(maps.Keys(args.Labels)) {
		labels = append(labels, docker.VolumeLabelArgs{Label: pulumi.String(k), Value: pulumi.String(args.Labels[k])})
	}
	return docker.NewVolume(ctx, name, &docker.VolumeArgs{
		Name:   pulumi.String(args.DockerName),
		Labels: labels,
	}, opts...)
}

// NetworkArgs describe a user-defined network: a bridge on one host, an
// overlay on a swarm.
type NetworkArgs struct {
	// DockerName is the network's name on the host.
	DockerName string
	// Labels on the network.
	Labels map[string]string
	// Internal networks have no route out of the host: containers on them
	// only reach each other. On one host the bridge gets no address either
	// (com.docker.network.bridge.inhibit_ipv4), so the host itself has no
	// route in: Docker would give it one, the network's gateway address,
	// through which any process of the host could reach Postgres and Redis.
	Internal bool
	// Overlay spans a swarm's nodes; it is attachable, so the one-shot
	// migration container can join it.
	Overlay bool
}

// NewNetwork registers a network.
func NewNetwork(ctx *pulumi.Context, name string, args NetworkArgs, opts ...pulumi.ResourceOption) (*docker.Network, error) {
	labels := make(docker.NetworkLabelArray, 0, len(args.Labels))
	for _, k := range slices.Sorted(maps.Keys(args.Labels)) {
		labels = append(labels, docker.NetworkLabelArgs{Label: pulumi.String(k), Value: pulumi.String(args.Labels[k])})
	}
	network := &docker.NetworkArgs{
		Name:     pulumi.String(args.DockerName),
		Driver:   pulumi.String("bridge"),
		Internal: pulumi.Bool(args.Internal),
		Labels:   labels,
	}
	if args.Overlay {
		network.Driver, network.Attachable = pulumi.String("overlay"), pulumi.Bool(true)
	} else if args.Internal {
		network.Options = pulumi.StringMap{"com.docker.network.bridge.inhibit_ipv4": pulumi.String("true")}
	}
	return docker.NewNetwork(ctx, name, network, opts...)
}
