package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/djangostack/infra/cmd/internal/stackhost"
)

// host is a deployed stack and stackctl's streams.
type host struct {
	*stackhost.Stack
	stdin          io.Reader
	stdout, stderr io.Writer
}

// connectTimeout bounds the first call, which checks that the host
// answers: an ssh host that drops packets would otherwise hang there.
var connectTimeout = 60 * time.Second

// connect prepares the docker CLI's environment and checks that the host
// answers, so that a host out of reach is named as such before anything.
func (h *host) connect() error {
	if err := h.Prepare(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	var errOut strings.Builder
	cmd := h.command(ctx, stackhost.VersionArgs...)
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			errOut.WriteString(fmt.Sprintf("no answer within %v", connectTimeout))
		}
		return h.Unreachable(err, errOut.String())
	}
	return nil
}

// command is the docker CLI with args, against the stack's host.
func (h *host) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = h.Env
	return cmd
}

// output runs the docker CLI and returns what it printed; its error names
// the call and ends with the CLI's message.
func (h *host) output(args ...string) (string, error) {
	var out, errOut strings.Builder
	cmd := h.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %s (%w)", strings.Join(args, " "), stackhost.LastLines(errOut.String()), err)
	}
	return out.String(), nil
}

// replicaKey matches a key of the containers output that is one replica of
// a component: backend-1 of backend.
var replicaKey = regexp.MustCompile(`^(.+)-[0-9]+$`)

// components are the component keys of the containers output, sorted.
func (h *host) components() []string {
	keys := make([]string, 0, len(h.Containers))
	for k := range h.Containers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// selectKeys are the keys of the containers output that the names given
// mean: a key itself, or a component whose replicas are key-1, key-2 …;
// none given means all.
func (h *host) selectKeys(names []string) ([]string, error) {
	all := h.components()
	if len(names) == 0 {
		return all, nil
	}
	var keys []string
	for _, name := range names {
		var matched []string
		for _, k := range all {
			if m := replicaKey.FindStringSubmatch(k); k == name || (m != nil && m[1] == name) {
				matched = append(matched, k)
			}
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("stack %s has no component %q (it has %s)", h.Name, name, strings.Join(componentNames(all), ", "))
		}
		for _, k := range matched {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// componentNames are the names a user can give: each key, and each
// replicated component once by its own name.
func componentNames(keys []string) []string {
	var names []string
	for _, k := range keys {
		if m := replicaKey.FindStringSubmatch(k); m != nil && !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
		names = append(names, k)
	}
	return names
}
