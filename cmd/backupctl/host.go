package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/djangostack/infra/stacks/outputs"
)

// deployment is what the stack's outputs say about its host and containers,
// and how backupctl runs the docker CLI against that host.
type deployment struct {
	DockerHost string
	SSHOpts    []string
	Runtime    string
	Backends   []string
	Containers map[string]string
	stack      string

	stdout, stderr io.Writer
	intr           *interrupts
	// env is the docker CLI's environment: DOCKER_HOST, and a PATH whose
	// ssh applies the stack's ssh options.
	env []string
	// sshDir holds that ssh ("" when there is none).
	sshDir string
	// restoring is the container and token of the restore under way, for
	// its cancel; restart how to start the backends by hand.
	restoring, token, restart string
}

// decode reads the deployment from the stack's outputs as JSON, each field
// from the output stacks/outputs names. It returns how many outputs there
// are.
func (d *deployment) decode(data []byte) (int, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return 0, err
	}
	for key, field := range map[string]any{
		outputs.DockerHost: &d.DockerHost, outputs.SSHOpts: &d.SSHOpts, outputs.Runtime: &d.Runtime,
		outputs.Backends: &d.Backends, outputs.Containers: &d.Containers,
	} {
		if raw, ok := all[key]; ok {
			if err := json.Unmarshal(raw, field); err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return len(all), nil
}

// load reads the stack's outputs with the pulumi CLI.
func load(cwd, stack string) (*deployment, error) {
	cmd := exec.Command("pulumi", "stack", "output", "--json", "--stack", stack, "--cwd", cwd)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return nil, fmt.Errorf("the pulumi command is not on PATH: backupctl reads the outputs of stack %s with it", stack)
	case err != nil:
		return nil, fmt.Errorf("reading the outputs of stack %s (pulumi stack output --stack %s --cwd %s): %s (%w)", stack, stack, cwd, lastLines(errOut.String()), err)
	}
	d := &deployment{stack: stack}
	n, err := d.decode(out)
	if err != nil {
		return nil, fmt.Errorf("the outputs of stack %s: %w", stack, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("stack %s has no outputs: it is not deployed (pulumi up --stack %s)", stack, stack)
	}
	if d.DockerHost == "" || len(d.Backends) == 0 {
		return nil, fmt.Errorf("stack %s has no dockerHost or backends output: deploy it with this version of the program first", stack)
	}
	if d.Containers[outputs.BackupContainer] == "" {
		return nil, fmt.Errorf("stack %s runs no backup service (backup.enabled is false)", stack)
	}
	return d, nil
}

// connect prepares the docker CLI's environment (close removes what it
// wrote) and checks that the host answers, so that a host out of reach is named as such before anything
// starts.
//
// The docker CLI has no flag for ssh options: for an ssh:// host it runs
// the ssh on PATH, as `ssh -l USER [-p PORT] -o ConnectTimeout=30 -T -- HOST
// docker system dial-stdio` (docker/cli's connhelper), which reads only the
// user's ssh config. So backupctl puts first on PATH a directory of its own
// whose ssh runs the real one with the stack's sshOpts before those
// arguments, as the stack's Docker provider does. Options given twice are
// ssh's to settle: for most, the first one given wins, so the stack's.
func (d *deployment) connect() error {
	env := os.Environ()
	if strings.HasPrefix(d.DockerHost, "ssh://") {
		ssh, err := exec.LookPath("ssh")
		if err == nil {
			ssh, err = filepath.Abs(ssh)
		}
		if err != nil {
			return fmt.Errorf("the Docker host of stack %s is %s, which the docker CLI reaches with ssh, and ssh is not on PATH", d.stack, d.DockerHost)
		}
		if len(d.SSHOpts) > 0 {
			if d.sshDir, err = os.MkdirTemp("", "backupctl-ssh-"); err != nil {
				return fmt.Errorf("a directory for the ssh of stack %s: %w", d.stack, err)
			}
			if err := os.WriteFile(filepath.Join(d.sshDir, "ssh"), []byte(sshWrapper(d.stack, ssh, d.SSHOpts)), 0o700); err != nil {
				return fmt.Errorf("writing the ssh of stack %s: %w", d.stack, err)
			}
			env = append(env, "PATH="+d.sshDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	// Later values win in exec: DOCKER_HOST also wins over DOCKER_CONTEXT
	// in the docker CLI.
	d.env = append(env, "DOCKER_HOST="+d.DockerHost)

	var errOut strings.Builder
	_, err := d.output(abandon, &errOut, "version", "--format", "{{.Server.Version}}")
	switch {
	case errors.Is(err, errInterrupted):
		return err
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("the docker command is not on PATH: backupctl drives the Docker host of stack %s with it", d.stack)
	case err != nil:
		how := ""
		if d.sshDir != "" {
			how = fmt.Sprintf(" (ssh with the stack's sshOpts %s)", strings.Join(d.SSHOpts, " "))
		}
		return fmt.Errorf("cannot reach the Docker host %s of stack %s%s: %s", d.DockerHost, d.stack, how, lastLines(errOut.String()))
	}
	return nil
}

// close removes the ssh wrapper.
func (d *deployment) close() {
	if d.sshDir != "" {
		os.RemoveAll(d.sshDir)
		d.sshDir = ""
	}
}

// sshWrapper is the ssh that connect puts on PATH.
func sshWrapper(stack, ssh string, opts []string) string {
	words := []string{"exec", shellQuote(ssh)}
	for _, o := range opts {
		words = append(words, shellQuote(o))
	}
	return "#!/bin/sh\n# backupctl: the ssh options of stack " + stack + " (host.sshOpts), then the docker CLI's.\n" +
		strings.Join(words, " ") + ` "$@"` + "\n"
}

// shellQuote quotes s as one word of sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lastLines is the end of a command's error output, for a message.
func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if out := strings.Join(lines, "; "); out != "" {
		return out
	}
	return "no message"
}

// container is the container to exec into for a part (outputs.Containers'
// key): the container, or on a swarm the part's service's task on this
// host.
func (d *deployment) container(key string) (string, error) {
	name := d.Containers[key]
	if name == "" {
		if key == outputs.OffsiteContainer {
			return "", fmt.Errorf("stack %s copies no dumps off the host (backup.offsite.url is not set, or the stack was deployed before backupctl could find the copy's container: pulumi up first)", d.stack)
		}
		return "", fmt.Errorf("stack %s has no %s container", d.stack, key)
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
