package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// rollback deploys the previous release's image, which the stack records
// (its previousBackendImage output), through the stack's config: it sets
// backend.image in Pulumi.<stack>.yaml, runs pulumi up, and commits the
// file when it is tracked in a git work tree. A rollback that only ran
// pulumi up would be undone by the next deploy of the committed config (the
// Deploy workflow's); one in the committed config is what every later
// deploy keeps, until a release names a newer image.
func (h *host) rollback(o options) error {
	previous := h.PreviousBackendImage
	if previous == "" {
		return fmt.Errorf("stack %s records no previous image: none of its releases changed the backend's image since it was deployed with a program that records it (its previousBackendImage output)", h.Name)
	}
	if previous == h.BackendImage {
		return fmt.Errorf("stack %s already runs its previous image %s", h.Name, previous)
	}
	// An image id (a local build, or an image no registry knows) cannot
	// be pulled again: it must still be on the host. The docker provider
	// looks an image up among the host's listed images and pulls it when
	// none matches; a build's previous image is often listed under no name
	// (a parent of the newer build), so the rollback gives it one.
	image := previous
	if strings.HasPrefix(previous, "sha256:") {
		if _, err := h.output("image", "inspect", "--format", "{{.Id}}", previous); err != nil {
			return fmt.Errorf("the previous image %s of stack %s is no longer on %s (removed or pruned), and no registry has it: release it again instead. %w", previous, h.Name, h.DockerHost, err)
		}
		image = rollbackTag(h.Name, previous)
		if _, err := h.output("image", "tag", previous, image); err != nil {
			return fmt.Errorf("naming the previous image %s of stack %s %s: %w", previous, h.Name, image, err)
		}
	}
	file := filepath.Join(o.cwd, "Pulumi."+h.Name+".yaml")
	fmt.Fprintf(h.stdout, "stackctl: rolling stack %s back from %s to %s\n", h.Name, h.BackendImage, image)
	if err := h.pulumi(o, "config", "set", "--stack", h.Name, "--path", "backend.image", image); err != nil {
		return fmt.Errorf("setting backend.image of stack %s to %s: %w", h.Name, image, err)
	}
	up := []string{"up", "--stack", h.Name}
	if o.yes {
		up = append(up, "--yes", "--skip-preview")
	}
	if err := h.pulumi(o, up...); err != nil {
		return fmt.Errorf("pulumi up of stack %s with backend.image %s failed: %w; %s names that image now (undo with git checkout -- %s, or run pulumi up --stack %s again)", h.Name, image, err, file, file, h.Name)
	}
	if o.noCommit {
		fmt.Fprintf(h.stdout, "stackctl: stack %s runs %s; commit %s, or the next deploy of the committed config brings the newer image back\n", h.Name, image, file)
		return nil
	}
	committed, err := commit(file, fmt.Sprintf("%s: roll back backend.image to %s\n\nstackctl rollback: from %s.", h.Name, image, h.BackendImage))
	switch {
	case err != nil:
		return fmt.Errorf("stack %s runs %s, but committing %s failed (commit it by hand, or the next deploy of the committed config brings the newer image back): %w", h.Name, image, file, err)
	case !committed:
		fmt.Fprintf(h.stdout, "stackctl: stack %s runs %s; %s is not tracked in a git work tree: keep it, as the next deploy reads backend.image from it\n", h.Name, image, file)
	default:
		fmt.Fprintf(h.stdout, "stackctl: stack %s runs %s; committed %s: push it, so that the next deploy keeps it\n", h.Name, image, file)
	}
	return nil
}

// rollbackTag names an image known by its id alone on the host, for the
// stack's config: stackctl-rollback:<stack>-<the id's first 12 hex digits>.
// The name is the host's only: a build's image is on no registry.
func rollbackTag(stack, id string) string {
	hex := strings.TrimPrefix(id, "sha256:")
	return fmt.Sprintf("stackctl-rollback:%s-%s", stack, hex[:min(12, len(hex))])
}

// pulumi runs the pulumi CLI in the project directory, on stackctl's
// terminal (pulumi up asks before it changes anything, unless --yes).
func (h *host) pulumi(o options, args ...string) error {
	cmd := exec.Command("pulumi", append(args, "--cwd", o.cwd)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = h.stdin, h.stdout, h.stderr
	return cmd.Run()
}

// commit commits file alone, when git tracks it; committed is false when
// it is not in a git work tree or not tracked.
func commit(file, message string) (committed bool, err error) {
	dir, base := filepath.Dir(file), filepath.Base(file)
	if exec.Command("git", "-C", dir, "ls-files", "--error-unmatch", "--", base).Run() != nil {
		return false, nil
	}
	out, err := exec.Command("git", "-C", dir, "commit", "-q", "-m", message, "--", base).CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return false, fmt.Errorf("git commit: %s", strings.TrimSpace(string(out)))
		}
		return false, err
	}
	return true, nil
}
