// Package engine learns which Docker Engine a stack deploys to: the API
// version its daemon speaks, asked over the same connection the stack's
// Docker provider uses (a unix socket, tcp, or ssh running `docker system
// dial-stdio` on the host with the stack's ssh options). The program needs
// it for what only newer engines accept, such as a healthcheck's start
// interval (API 1.44, Docker 25).
//
// It imports no Pulumi package: tools and tests use it without linking
// the program.
package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Version is what a Docker daemon says of itself (GET /version).
type Version struct {
	// API is the highest Engine API version the daemon speaks ("1.45").
	API string `json:"apiVersion"`
	// Engine is the daemon's release ("26.1.5").
	Engine string `json:"version"`
}

// StartIntervalAPI is the first Engine API version that takes a
// healthcheck's start interval (Docker 25); an older daemon refuses a
// container that sets one.
const StartIntervalAPI = "1.44"

// Known says whether the version was learnt at all.
func (v Version) Known() bool { return v.API != "" }

// AtLeast says whether the daemon speaks API version api or a later one;
// an unknown or unreadable version is never at least anything.
func (v Version) AtLeast(api string) bool {
	have, ok1 := parseAPI(v.API)
	want, ok2 := parseAPI(api)
	if !ok1 || !ok2 {
		return false
	}
	return have[0] > want[0] || have[0] == want[0] && have[1] >= want[1]
}

// String is "Docker 26.1.5, API 1.45".
func (v Version) String() string {
	if v.Engine == "" {
		return "API " + v.API
	}
	return fmt.Sprintf("Docker %s, API %s", v.Engine, v.API)
}

// parseAPI reads "1.45" as {1, 45}.
func parseAPI(s string) ([2]int, bool) {
	major, minor, ok := strings.Cut(s, ".")
	if !ok {
		return [2]int{}, false
	}
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return [2]int{}, false
	}
	return [2]int{a, b}, true
}

// Host is how to reach a Docker daemon: the stack's host.docker and
// host.sshOpts.
type Host struct {
	// Docker is unix:///path, tcp://server:port or ssh://user@server[:port].
	Docker string
	// SSHOpts go to ssh before its other arguments, for an ssh:// host.
	SSHOpts []string
}

// Prober learns the version of a host's daemon. The program's tests give
// it one that never contacts a daemon.
type Prober interface {
	Probe(ctx context.Context, h Host) (Version, error)
}

// Timeout bounds one probe, the ssh connection included: a host that does
// not answer within it is taken as unreachable, and the program goes on
// without it (a preview without the deploy's credentials, say).
const Timeout = 10 * time.Second

// Dial is the Prober that asks the daemon itself.
type Dial struct{}

// Probe asks the host's daemon for its version (GET /version).
func (Dial) Probe(ctx context.Context, h Host) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	u, err := url.Parse(h.Docker)
	if err != nil {
		return Version{}, fmt.Errorf("%q is not a Docker host address", h.Docker)
	}
	var dialer net.Dialer
	switch u.Scheme {
	case "unix":
		conn, err := dialer.DialContext(ctx, "unix", u.Path)
		if err != nil {
			return Version{}, err
		}
		return overConn(ctx, conn)
	case "tcp":
		conn, err := dialer.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return Version{}, err
		}
		return overConn(ctx, conn)
	case "ssh":
		return overSSH(ctx, u, h.SSHOpts)
	}
	return Version{}, fmt.Errorf("%q is not a Docker host address (unix, tcp or ssh)", h.Docker)
}

// overConn asks over a connection to the daemon, closed when done or when
// ctx ends.
func overConn(ctx context.Context, conn net.Conn) (Version, error) {
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	return Ask(conn, conn)
}

// SSHArgs are the arguments of the ssh that reaches the daemon of an
// ssh:// host, as the docker CLI runs it (docker/cli's connhelper): the
// stack's ssh options first, then the user, the port, and `docker system
// dial-stdio` on the host, which relays the daemon's socket over stdin and
// stdout.
func SSHArgs(u *url.URL, opts []string) []string {
	args := append([]string{}, opts...)
	if u.User != nil {
		args = append(args, "-l", u.User.Username())
	}
	if port := u.Port(); port != "" {
		args = append(args, "-p", port)
	}
	return append(args, "-o", fmt.Sprintf("ConnectTimeout=%d", int(Timeout.Seconds())), "-T", "--", u.Hostname(), "docker", "system", "dial-stdio")
}

// overSSH asks through `docker system dial-stdio` on the host.
func overSSH(ctx context.Context, u *url.URL, opts []string) (Version, error) {
	cmd := exec.CommandContext(ctx, "ssh", SSHArgs(u, opts)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Version{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Version{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Version{}, err
	}
	v, err := Ask(stdin, stdout)
	stdin.Close()
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil && stderr.Len() > 0 {
		err = fmt.Errorf("%w (ssh: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return v, err
}

// Ask sends GET /version to a daemon's API on w and reads its answer from
// r.
func Ask(w io.Writer, r io.Reader) (Version, error) {
	if _, err := io.WriteString(w, "GET /version HTTP/1.1\r\nHost: docker\r\nUser-Agent: django-stack\r\nConnection: close\r\n\r\n"); err != nil {
		return Version{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return Version{}, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Version{}, fmt.Errorf("the daemon answered GET /version with %s", resp.Status)
	}
	var body struct {
		Version    string
		APIVersion string `json:"ApiVersion"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return Version{}, fmt.Errorf("reading the daemon's version: %w", err)
	}
	if _, ok := parseAPI(body.APIVersion); !ok {
		return Version{}, errors.New("the daemon's answer holds no API version")
	}
	return Version{API: body.APIVersion, Engine: body.Version}, nil
}
