package runtime

import (
	"fmt"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Runtime is how the workloads run: plain containers on one Docker host, or
// services of a Docker Swarm spread over several.
type Runtime string

const (
	// Container runs each workload as a docker.Container (default).
	Container Runtime = "container"
	// Swarm runs each workload as a docker.Service of a swarm.
	Swarm Runtime = "swarm"
)

// Check reports a runtime this program does not know.
func (r Runtime) Check() error {
	if r != Container && r != Swarm {
		return fmt.Errorf("%q is not a runtime (container or swarm)", string(r))
	}
	return nil
}

// Target is where a component deploys: the names and labels of its Docker
// objects, the runtime that runs them and, on Swarm, where its tasks may go.
type Target struct {
	naming.Naming
	// Runtime runs the component's workloads; empty is Container.
	Runtime Runtime
	// Constraints place the component's Swarm tasks, such as the node that
	// holds its volume ("node.labels.djangostack.data == true").
	Constraints []string
}

// Rollout is how Swarm replaces a service's tasks: the guide's deploy
// vocabulary for update_config and rollback_config.
type Rollout struct {
	// Parallelism is how many tasks are replaced at once.
	Parallelism int `json:"parallelism"`
	// Delay between batches.
	Delay units.Duration `json:"delay"`
	// Monitor is how long a new task is watched for failure.
	Monitor units.Duration `json:"monitor"`
	// Order is start-first (the new task runs before the old one stops) or stop-first.
	Order string `json:"order"`
	// FailureAction is what a failed update does: rollback, pause or continue.
	FailureAction string `json:"failureAction"`
}

// Check reports a rollout Swarm would refuse.
func (r Rollout) Check() problems.Problems {
	var ps problems.Problems
	if r.Parallelism < 0 {
		ps.Add("parallelism", "%d must not be negative (0 is all at once)", r.Parallelism)
	}
	if r.Order != "start-first" && r.Order != "stop-first" {
		ps.Add("order", "%q is not an order (start-first or stop-first)", r.Order)
	}
	switch r.FailureAction {
	case "rollback", "pause", "continue":
	default:
		ps.Add("failureAction", "%q is not a failure action (rollback, pause or continue)", r.FailureAction)
	}
	return ps
}

// Register deploys a workload on the runtime, as a *docker.Container or a
// *docker.Service: every component's one thin step between its render and
// Docker.
func Register(ctx *pulumi.Context, rt Runtime, name string, w Workload, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	if rt == Swarm {
		return newService(ctx, name, w, opts...)
	}
	return newContainer(ctx, name, w, opts...)
}

// RunImage is the image a runtime runs from a pulled image: its id on this
// host for a container, its repository digest for a service, which every
// node pulls for itself.
func RunImage(rt Runtime, image *docker.RemoteImage) pulumi.StringOutput {
	if rt == Swarm {
		return SwarmImage(image.RepoDigest, image.ImageId)
	}
	return image.ImageId
}

// SwarmImage is what a service runs: the image's repository digest, or,
// for an image no registry knows (built or loaded on the node, so it has
// no digest), its id, which the node runs without trying a pull. The
// provider reads an empty digest for such an image, and a service with an
// empty image is refused; by its id it runs on the nodes that hold it.
func SwarmImage(repoDigest, imageID pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.All(repoDigest, imageID).ApplyT(func(v []any) string {
		if d, _ := v[0].(string); d != "" {
			return d
		}
		id, _ := v[1].(string)
		return id
	}).(pulumi.StringOutput)
}

// Part describes one kind of container a stack runs, to the code that
// loops over all of them: validation, the guardrails' sizing, the stack
// outputs, the specs and the change notes. Each component's settings give
// their own (postgres.Settings.Part); the stack lists them once.
type Part struct {
	// Key names the part in the specs, the container outputs and the
	// change notes ("postgres"; a backend role's name, "worker").
	Key string
	// Config is the config key of the part's settings, where its problems
	// are reported ("backend.roles.worker"); empty is Key.
	Config string
	// Count is how many containers of the part the host must hold: the
	// backend's replicas, the backup and its off-host copy.
	Count int
	// Off: the stack runs none of the part (backups off). Its settings
	// are still checked, but nothing of it is sized.
	Off bool
	// Replicated parts name their containers in the outputs key-1, key-2 …
	// whatever their number; the others by their key.
	Replicated bool
	// Settings are the part's resources, healthcheck, restart policy and
	// log rotation.
	Settings ContainerSettings
	// Image is the image reference the part runs as the config sets it at
	// <config>.image; "" when the part has no image of its own (the backup
	// runs postgres.image, a role the backend's) or builds it.
	Image string
	// Check reports what cannot work in the part's own settings, at keys
	// relative to Config; nil when another part's check covers it (a role's,
	// the backend's).
	Check func() problems.Problems
	// Cost says what replacing the part's container costs, given the spec
	// fields that changed, in the words a reviewer of a preview needs.
	Cost func(changed []string) string
}

// ConfigKey is the config key of the part's settings.
func (p Part) ConfigKey() string {
	if p.Config != "" {
		return p.Config
	}
	return p.Key
}

// FixedCost is a cost that does not depend on what changed.
func FixedCost(text string) func([]string) string {
	return func([]string) string { return text }
}
