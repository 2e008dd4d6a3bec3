// Package stackhost is how the project's commands (backupctl, stackctl)
// find a deployed stack and reach its Docker host: the stack's outputs,
// read with the pulumi CLI, and an environment for the docker CLI that
// talks to the stack's host.docker as the stack's Docker provider does,
// over a socket, tcp, or ssh with the stack's host.sshOpts.
package stackhost

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

// Stack is what a deployed stack's outputs say about its host and
// containers, and the docker CLI's environment for that host.
type Stack struct {
	// Name is the Pulumi stack.
	Name       string
	DockerHost string
	SSHOpts    []string
	Runtime    string
	Backends   []string
	Containers map[string]string
	URLs       []string
	// BackendImage and PreviousBackendImage are the image the backend
	// runs and the one the release before ran ("" when none is recorded).
	BackendImage, PreviousBackendImage string

	// Env is the docker CLI's environment (Prepare): DOCKER_HOST, and a
	// PATH whose ssh applies the stack's ssh options.
	Env []string
	// tool names the command in messages; sshDir holds the ssh wrapper
	// ("" when there is none).
	tool, sshDir string
}

// Swarm is true for a stack on a swarm, whose Containers and Backends name
// services.
func (s *Stack) Swarm() bool { return s.Runtime == outputs.SwarmRuntime }

// decode reads the stack's outputs as JSON, each field from the output
// stacks/outputs names. It returns how many outputs there are.
func (s *Stack) decode(data []byte) (int, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return 0, err
	}
	for key, field := range map[string]any{
		outputs.DockerHost: &s.DockerHost, outputs.SSHOpts: &s.SSHOpts, outputs.Runtime: &s.Runtime,
		outputs.Backends: &s.Backends, outputs.Containers: &s.Containers, outputs.URLs: &s.URLs,
		outputs.BackendImage: &s.BackendImage, outputs.PreviousBackendImage: &s.PreviousBackendImage,
	} {
		if raw, ok := all[key]; ok {
			if err := json.Unmarshal(raw, field); err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return len(all), nil
}

// Load reads the outputs of stack with the pulumi CLI, in the project
// directory cwd; tool names the command in its messages. A stack that is
// not deployed, or was deployed by a program too old to record its host
// and backends, is an error that says so.
func Load(tool, cwd, stack string) (*Stack, error) {
	cmd := exec.Command("pulumi", "stack", "output", "--json", "--stack", stack, "--cwd", cwd)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return nil, fmt.Errorf("the pulumi command is not on PATH: %s reads the outputs of stack %s with it", tool, stack)
	case err != nil:
		return nil, fmt.Errorf("reading the outputs of stack %s (pulumi stack output --stack %s --cwd %s): %s (%w)", stack, stack, cwd, LastLines(errOut.String()), err)
	}
	s := &Stack{Name: stack, tool: tool}
	n, err := s.decode(out)
	if err != nil {
		return nil, fmt.Errorf("the outputs of stack %s: %w", stack, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("stack %s has no outputs: it is not deployed (pulumi up --stack %s)", stack, stack)
	}
	if s.DockerHost == "" || len(s.Backends) == 0 {
		return nil, fmt.Errorf("stack %s has no dockerHost or backends output: deploy it with this version of the program first", stack)
	}
	return s, nil
}

// Prepare sets Env, the docker CLI's environment for the stack's host
// (Close removes what it wrote).
//
// The docker CLI has no flag for ssh options: for an ssh:// host it runs
// the ssh on PATH, as `ssh -l USER [-p PORT] -o ConnectTimeout=30 -T -- HOST
// docker system dial-stdio` (docker/cli's connhelper), which reads only the
// user's ssh config. So Prepare puts first on PATH a directory of its own
// whose ssh runs the real one with the stack's sshOpts before those
// arguments, as the stack's Docker provider does. Options given twice are
// ssh's to settle: for most, the first one given wins, so the stack's.
func (s *Stack) Prepare() error {
	env := os.Environ()
	if strings.HasPrefix(s.DockerHost, "ssh://") {
		ssh, err := exec.LookPath("ssh")
		if err == nil {
			ssh, err = filepath.Abs(ssh)
		}
		if err != nil {
			return fmt.Errorf("the Docker host of stack %s is %s, which the docker CLI reaches with ssh, and ssh is not on PATH", s.Name, s.DockerHost)
		}
		if len(s.SSHOpts) > 0 {
			if s.sshDir, err = os.MkdirTemp("", s.tool+"-ssh-"); err != nil {
				return fmt.Errorf("a directory for the ssh of stack %s: %w", s.Name, err)
			}
			if err := os.WriteFile(filepath.Join(s.sshDir, "ssh"), []byte(sshWrapper(s.tool, s.Name, ssh, s.SSHOpts)), 0o700); err != nil {
				return fmt.Errorf("writing the ssh of stack %s: %w", s.Name, err)
			}
			env = append(env, "PATH="+s.sshDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	// Later values win in exec: DOCKER_HOST also wins over DOCKER_CONTEXT
	// in the docker CLI.
	s.Env = append(env, "DOCKER_HOST="+s.DockerHost)
	return nil
}

// VersionArgs are the docker CLI's arguments of the call that checks that
// the host answers, before anything else.
var VersionArgs = []string{"version", "--format", "{{.Server.Version}}"}

// Unreachable is the error of a host that did not answer: the docker
// command missing, or the host, and how it was asked, with the end of the
// docker CLI's message (stderr).
func (s *Stack) Unreachable(err error, stderr string) error {
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("the docker command is not on PATH: %s drives the Docker host of stack %s with it", s.tool, s.Name)
	}
	how := ""
	if s.sshDir != "" {
		how = fmt.Sprintf(" (ssh with the stack's sshOpts %s)", strings.Join(s.SSHOpts, " "))
	}
	return fmt.Errorf("cannot reach the Docker host %s of stack %s%s: %s", s.DockerHost, s.Name, how, LastLines(stderr))
}

// Close removes the ssh wrapper.
func (s *Stack) Close() {
	if s.sshDir != "" {
		os.RemoveAll(s.sshDir)
		s.sshDir = ""
	}
}

// sshWrapper is the ssh that Prepare puts on PATH.
func sshWrapper(tool, stack, ssh string, opts []string) string {
	words := []string{"exec", ShellQuote(ssh)}
	for _, o := range opts {
		words = append(words, ShellQuote(o))
	}
	return "#!/bin/sh\n# " + tool + ": the ssh options of stack " + stack + " (host.sshOpts), then the docker CLI's.\n" +
		strings.Join(words, " ") + ` "$@"` + "\n"
}

// ShellQuote quotes s as one word of sh.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// LastLines is the end of a command's error output, for a message.
func LastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if out := strings.Join(lines, "; "); out != "" {
		return out
	}
	return "no message"
}

// ErrUsage marks a wrong invocation of a command: exit status 2, with its
// usage.
var ErrUsage = errors.New("usage")

// Help answers a command line that names no command or asks for help: it
// prints usage to stdout, and asked is true. No command is a wrong
// invocation (ErrUsage); asking for help is not.
func Help(args []string, usage string, stdout io.Writer) (asked bool, err error) {
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
		return false, nil
	}
	fmt.Fprint(stdout, usage)
	if len(args) == 0 {
		return true, fmt.Errorf("%w: no command", ErrUsage)
	}
	return true, nil
}
