package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"
)

// exec runs a command in a running container of the component: the first
// replica that runs (on a swarm, a task of the service on the host stackctl
// talks to). docker exec gives it the container's own environment, the
// backend's contract with its secrets as files, and its working directory;
// it runs as user (USER[:GROUP]), by default as the app does (appUser).
// With a terminal on stdin it is interactive (docker exec -it); otherwise
// stdin is still handed on (-i), so a script can be piped in.
func (h *host) exec(component, user string, command []string) error {
	target, err := h.execTarget(component)
	if err != nil {
		return err
	}
	args := []string{"exec", "-i"}
	if isTerminal(h.stdin) {
		args = append(args, "-t")
	}
	if user == "" {
		if user, err = h.appUser(target); err != nil {
			return err
		}
	}
	if user != "" {
		args = append(args, "--user", user)
	}
	cmd := h.command(context.Background(), append(append(args, target), command...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = h.stdin, h.stdout, h.stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitStatus(exit.ExitCode())
	}
	return err
}

// appUser is the uid:gid the app's processes run as in the container: the
// first process (docker top) that is not root's. An image's entrypoint
// often starts as root and drops to its user (the reference backend does),
// and docker exec would run as root, which, with every capability
// dropped, cannot write the files the app owns (its logs). "" when every
// process is root's: docker exec's default then.
func (h *host) appUser(target string) (string, error) {
	out, err := h.output("top", target, "-eo", "pid,uid,gid")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) == 3 && f[1] != "0" {
			return f[1] + ":" + f[2], nil
		}
	}
	return "", nil
}

// execTarget is the container to run a command in.
func (h *host) execTarget(component string) (string, error) {
	keys, err := h.selectKeys([]string{component})
	if err != nil {
		return "", err
	}
	if h.Swarm() {
		service := h.Containers[keys[0]]
		out, err := h.output("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service, "--filter", "health=healthy")
		if err != nil {
			return "", err
		}
		if ids := strings.Fields(out); len(ids) > 0 {
			return ids[0], nil
		}
		return "", fmt.Errorf("no healthy task of %s runs on %s: point the stack's host.docker at a node that runs one, or run it there with docker exec", service, h.DockerHost)
	}
	var names []string
	for _, k := range keys {
		names = append(names, h.Containers[k])
	}
	out, err := h.output(append([]string{"inspect", "--type", "container", "--format", "{{.Name}} {{.State.Running}}"}, names...)...)
	for _, line := range strings.Split(out, "\n") {
		if name, running, _ := strings.Cut(line, " "); running == "true" {
			return strings.TrimPrefix(name, "/"), nil
		}
	}
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("no container of %s runs on %s (%s): stackctl status --stack %s", component, h.DockerHost, strings.Join(names, ", "), h.Name)
}

// isTerminal is true when r is a terminal: not any character device
// (/dev/null is one, and docker exec -t refuses it).
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
