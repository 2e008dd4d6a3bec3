package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/djangostack/infra/cmd/internal/stackhost"
	"github.com/djangostack/infra/stacks/outputs"
)

// deployment is a deployed stack (its host and containers, as
// stackhost reads them) and how backupctl runs the docker CLI against its
// host.
type deployment struct {
	*stackhost.Stack

	stdout, stderr io.Writer
	intr           *interrupts
	// restoring is the container and token of the restore under way, for
	// its cancel; restart how to start the backends by hand.
	restoring, token, restart string
}

// load reads the stack's outputs: a stack with backups.
func load(cwd, stack string) (*deployment, error) {
	s, err := stackhost.Load("backupctl", cwd, stack)
	if err != nil {
		return nil, err
	}
	if s.Containers[outputs.BackupContainer] == "" {
		return nil, fmt.Errorf("stack %s runs no backup service (backup.enabled is false)", stack)
	}
	return &deployment{Stack: s}, nil
}

// connect prepares the docker CLI's environment (close removes what it
// wrote) and checks that the host answers, so that a host out of reach is
// named as such before anything starts.
func (d *deployment) connect() error {
	if err := d.Prepare(); err != nil {
		return err
	}
	var errOut strings.Builder
	_, err := d.output(abandon, &errOut, stackhost.VersionArgs...)
	switch {
	case errors.Is(err, errInterrupted):
		return err
	case err != nil:
		return d.Unreachable(err, errOut.String())
	}
	return nil
}

// close removes the ssh wrapper.
func (d *deployment) close() { d.Close() }

// container is the container to exec into for a part (outputs.Containers'
// key): the container, or on a swarm the part's service's task on this
// host.
func (d *deployment) container(key string) (string, error) {
	name := d.Containers[key]
	if name == "" {
		if key == outputs.OffsiteContainer {
			return "", fmt.Errorf("stack %s copies no dumps off the host (backup.offsite.url is not set, or the stack was deployed before backupctl could find the copy's container: pulumi up first)", d.Name)
		}
		return "", fmt.Errorf("stack %s has no %s container", d.Name, key)
	}
	if d.Runtime != outputs.SwarmRuntime {
		return name, nil
	}
	id, err := d.output(abandon, d.stderr, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+name)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("no task of %s runs on %s: point DOCKER_HOST at the data node (backupctl uses the stack's dockerHost)", name, d.DockerHost)
	}
	return strings.Fields(id)[0], nil
}
