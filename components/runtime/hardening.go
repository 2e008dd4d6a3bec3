package runtime

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/djangostack/infra/components/problems"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Every container and Swarm task of the stack is locked down the same way
// (CIS Docker Benchmark, section 5): it drops every Linux capability, runs
// with a read-only root filesystem and, on plain Docker, may never gain a
// privilege through a setuid binary or file capabilities
// (no-new-privileges). Privileges lists a workload's exceptions, each
// explained where the component sets it and in docs/architecture.md's table.

// Privileges are what a workload's processes may do beyond that lockdown.
type Privileges struct {
	// User runs the processes as this user of the image (a name from its
	// /etc/passwd, or uid:gid); empty keeps the image's own USER.
	User string `json:"user"`
	// Capabilities are the Linux capabilities kept, without the CAP_
	// prefix ("NET_BIND_SERVICE"); every other one is dropped.
	Capabilities []string `json:"capabilities"`
	// Writable are the directories the server writes outside its volumes,
	// absolute paths; each is a tmpfs, its memory counted against the
	// container's limit, gone when the container stops. /tmp always is one.
	// Each is root's: where the image has the directory, Docker copies its
	// content and mode, not its owner, so an image that drops from root
	// hands it to its user (as the reference backend's entrypoint does).
	Writable []string `json:"writable"`
}

// knownCapabilities are the Linux capabilities Docker knows (capabilities(7)).
var knownCapabilities = []string{
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
	"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
	"LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN",
	"SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
}

// Check reports a capability Linux does not have, a writable directory that
// is not a clean absolute path, and a user with spaces.
func (p Privileges) Check() problems.Problems {
	var ps problems.Problems
	if strings.ContainsAny(p.User, " \t\n") {
		ps.Add("user", "%q is not a user: a name of the image's /etc/passwd or uid:gid", p.User)
	}
	for _, c := range p.Capabilities {
		if !slices.Contains(knownCapabilities, strings.TrimPrefix(strings.ToUpper(c), "CAP_")) {
			ps.Add("capabilities", "%q is not a Linux capability (capabilities(7): CHOWN, NET_BIND_SERVICE, SETUID, ...)", c)
		}
	}
	for _, d := range p.Writable {
		if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
			ps.Add("writable", "%q is not a directory's absolute path (/app/logs)", d)
		}
	}
	return ps
}

// noNewPrivileges is Docker's security option that sets the kernel's
// no_new_privs flag: execve never grants a privilege (setuid, file
// capabilities). The images' entrypoints drop from root with
// setuid/setgid calls (gosu, setpriv), which it leaves alone.
const noNewPrivileges = "no-new-privileges:true"

// tmpfsOptions are the mount options of every writable directory: nothing
// there is run, no device or setuid file is honoured, and, where the image
// has no such directory, every user may write there, as in /tmp (where it
// has one, Docker keeps that directory's mode).
const tmpfsOptions = "rw,noexec,nosuid,nodev,mode=1777"

// writable is every directory the workload writes to outside its volumes,
// sorted: /tmp and the workload's own.
func (p Privileges) writable() []string {
	dirs := append([]string{"/tmp"}, p.Writable...)
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// capabilities are the Docker form of Privileges.Capabilities, as Docker
// reads them back (CAP_ prefixed, sorted), so a preview shows no change.
func (p Privileges) capabilities() []string {
	var caps []string
	for _, c := range p.Capabilities {
		caps = append(caps, "CAP_"+strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	slices.Sort(caps)
	return slices.Compact(caps)
}

// harden sets what every container of a workload gets, long-running or a
// one-shot job: every capability dropped but the workload's own, no new
// privileges, its user, a tmpfs where it writes (a job's root filesystem
// is writable, but root without DAC_OVERRIDE cannot write into a directory
// of the image that its user owns).
func (w Workload) harden(args *docker.ContainerArgs) {
	p := w.Privileges
	p.lockDown(args)
	args.Tmpfs = pulumi.ToStringMap(p.tmpfs())
	if p.User != "" {
		args.User = pulumi.String(p.User)
	}
}

// lockDown drops every capability but p's and sets no-new-privileges: what
// every container gets, the never-started writers of files included.
func (p Privileges) lockDown(args *docker.ContainerArgs) {
	caps := &docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"})}
	if c := p.capabilities(); len(c) > 0 {
		caps.Adds = pulumi.ToStringArray(c)
	}
	args.Capabilities = caps
	args.SecurityOpts = pulumi.ToStringArray([]string{noNewPrivileges})
}

// tmpfs is the container's map of writable directories.
func (p Privileges) tmpfs() map[string]string {
	out := map[string]string{}
	for _, d := range p.writable() {
		out[d] = tmpfsOptions
	}
	return out
}

// fileDirs are the directories of a workload's files, sorted. On a
// read-only root filesystem each is a volume of the container's own, the
// files written into it before the container starts (newContainer).
func (w Workload) fileDirs() []string {
	dirs := map[string]bool{}
	for _, f := range w.Files {
		dirs[path.Dir(f.Path)] = true
	}
	return slices.Sorted(maps.Keys(dirs))
}

// fileVolumeName is the Docker name of the volume that holds a container's
// files of one directory: /run/secrets of app-backend-1 is
// app-backend-1-files-run-secrets.
func fileVolumeName(container, dir string) string {
	return container + "-files" + strings.ReplaceAll(dir, "/", "-")
}

// String describes the lockdown with its exceptions, for the Spec: a
// changed lockdown is a changed container.
func (p Privileges) String() string {
	user := p.User
	if user == "" {
		user = "the image's"
	}
	return fmt.Sprintf("read-only root, no new privileges, capabilities %s, user %s, writable %s",
		strings.Join(append([]string{"none but"}, p.capabilities()...), " "), user, strings.Join(p.writable(), " "))
}
