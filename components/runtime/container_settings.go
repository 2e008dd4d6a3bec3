package runtime

import (
	"fmt"
	"time"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/units"
)

// ContainerSettings are the run-time properties that every container of the
// stack has, each with the guide's value as the production default. They are
// embedded in each component's settings, so in config they sit next to the
// component's own keys: `postgres.resources.limits.memory`.
type ContainerSettings struct {
	// Resources are the CPU and memory limits and reservations.
	Resources Resources `json:"resources"`
	// Healthcheck is the timing of the container's health probe; each
	// component supplies the probe command itself.
	Healthcheck Healthcheck `json:"healthcheck"`
	// Restart is what Docker does when the process exits.
	Restart RestartPolicy `json:"restart"`
	// Logs is the rotation of the container's log files.
	Logs LogRotation `json:"logs"`
	// StopTimeout is how long the process gets to shut down after SIGTERM
	// (or its image's stop signal) before it is killed.
	StopTimeout units.Duration `json:"stopTimeout"`
}

// Resources mirror Compose's `deploy.resources` block.
type Resources struct {
	// Limits are hard caps: the container is throttled above Limits.CPUs and
	// killed above Limits.Memory.
	Limits ResourceAmount `json:"limits"`
	// Reservations are what the container is guaranteed under contention. On a
	// single Docker host memory maps onto --memory-reservation (a soft limit
	// enforced when the host runs short) and CPUs onto --cpu-shares (1024 per
	// CPU: a relative weight, since a plain container cannot reserve cores).
	// Swarm reserves both for real when it places the task.
	Reservations ResourceAmount `json:"reservations"`
}

// MemorySwap is the container's memory plus swap limit in MiB: the memory
// limit itself, so the container gets no swap. Left unset, Docker doubles
// the limit, the provider reads that back, and every later preview shows a
// change nobody made.
func (l ResourceAmount) MemorySwap() int { return l.Memory.MiB() }

// ResourceAmount is an amount of CPU and memory.
type ResourceAmount struct {
	// CPUs, fractional allowed ("2.0", "0.5").
	CPUs units.CPUs `json:"cpus"`
	// Memory, Docker syntax ("1G", "768M"); whole MiB.
	Memory units.Size `json:"memory"`
}

// Healthcheck is the timing of a container health probe.
type Healthcheck struct {
	// Interval between probes.
	Interval units.Duration `json:"interval"`
	// Timeout of one probe.
	Timeout units.Duration `json:"timeout"`
	// Retries is the number of consecutive failures that make the container unhealthy.
	Retries int `json:"retries"`
	// StartPeriod is the time after start during which failures do not count.
	StartPeriod units.Duration `json:"startPeriod"`
	// StartInterval is the time between probes during the start period
	// (Docker 25, Engine API 1.44, or later). Unset (0): DefaultStartInterval
	// on an engine that takes it, none on an older one or a swarm
	// (docs/operations.md, "Faster starts on Docker 25 and later"). Set it to
	// the interval to probe at the interval from the start.
	StartInterval units.Duration `json:"startInterval"`
}

// DefaultStartInterval is the start interval of a healthcheck that sets
// none, on an engine that takes one: a server ready in 2 s is seen healthy
// about then, not one interval after its start.
const DefaultStartInterval = units.Duration(time.Second)

// WithStartInterval is the healthcheck with d as its start interval when
// it sets none, at most its interval.
func (h Healthcheck) WithStartInterval(d units.Duration) Healthcheck {
	if h.StartInterval == 0 {
		h.StartInterval = min(d, h.Interval)
	}
	return h
}

// ReadyWithin is the longest a container with this healthcheck can take to be
// reported healthy or unhealthy after it starts: the start period, then one
// full interval plus timeout for each retry. Creating a container waits that
// long (plus a margin) for it to become healthy before the update goes on.
func (h Healthcheck) ReadyWithin() units.Duration {
	return h.StartPeriod + units.Duration(h.Retries+1)*(h.Interval+h.Timeout)
}

// RestartPolicy is what happens when a container's process exits. It is the
// guide's `deploy.restart_policy` block; a plain container uses Condition and
// MaxAttempts, Swarm uses all four fields.
type RestartPolicy struct {
	// Condition is one of on-failure, always, unless-stopped, no.
	Condition string `json:"condition"`
	// MaxAttempts caps restarts after failures (on-failure only).
	MaxAttempts int `json:"maxAttempts"`
	// Delay between restart attempts (Swarm).
	Delay units.Duration `json:"delay"`
	// Window over which a restart is judged successful (Swarm).
	Window units.Duration `json:"window"`
}

// LogRotation is the container's json-file log rotation: the container-level
// twin of the guide's RotatingFileHandler (10 MB x 5 files).
type LogRotation struct {
	// Driver is the Docker log driver.
	Driver string `json:"driver"`
	// MaxSize of one log file before it is rotated.
	MaxSize units.Size `json:"maxSize"`
	// MaxFiles is the number of rotated files kept.
	MaxFiles int `json:"maxFiles"`
}

// Options renders the log driver options.
func (l LogRotation) Options() map[string]string {
	return map[string]string{
		"max-size": l.MaxSize.Compact(),
		"max-file": fmt.Sprint(l.MaxFiles),
	}
}

// GuideLogRotation is the guide's log rotation: json-file, 10 MB x 5 files.
func GuideLogRotation() LogRotation {
	return LogRotation{Driver: "json-file", MaxSize: units.Size(10 * units.MiB), MaxFiles: 5}
}

// GuideRestartPolicy is the guide's restart policy: on failure, 5 s apart, at
// most 3 attempts within a 120 s window.
func GuideRestartPolicy() RestartPolicy {
	return RestartPolicy{Condition: "on-failure", MaxAttempts: 3, Delay: units.Seconds(5), Window: units.Seconds(120)}
}

// NewResources is a Resources value from CPU counts and sizes in MiB.
func NewResources(limitCPUs units.CPUs, limitMiB int64, reserveCPUs units.CPUs, reserveMiB int64) Resources {
	return Resources{
		Limits:       ResourceAmount{CPUs: limitCPUs, Memory: units.Size(limitMiB * units.MiB)},
		Reservations: ResourceAmount{CPUs: reserveCPUs, Memory: units.Size(reserveMiB * units.MiB)},
	}
}

// GuideContainer is a container with the guide's restart policy and log
// rotation and its own resources, health timing and stop timeout.
func GuideContainer(resources Resources, health Healthcheck, stopTimeout units.Duration) ContainerSettings {
	return ContainerSettings{
		Resources:   resources,
		Healthcheck: health,
		Restart:     GuideRestartPolicy(),
		Logs:        GuideLogRotation(),
		StopTimeout: stopTimeout,
	}
}

// DockerMinMemory is the smallest memory limit or reservation the Docker
// daemon accepts since 20.10 ("Minimum memory limit allowed is 6MB").
const DockerMinMemory = 6 * units.MiB

// Check reports what cannot work in any deployment: non-positive amounts,
// unknown restart conditions, a healthcheck that can never pass.
func (s ContainerSettings) Check() problems.Problems {
	var ps problems.Problems
	for _, r := range []struct {
		key    string
		amount ResourceAmount
	}{{"resources.limits", s.Resources.Limits}, {"resources.reservations", s.Resources.Reservations}} {
		if r.amount.CPUs <= 0 {
			ps.Add(r.key+".cpus", "%q must be more than 0", r.amount.CPUs.String())
		}
		if r.amount.Memory < units.Size(DockerMinMemory) || int64(r.amount.Memory)%units.MiB != 0 {
			ps.Add(r.key+".memory", "%q must be a whole number of MiB, at least %s (Docker's minimum since 20.10)", r.amount.Memory.String(), units.Size(DockerMinMemory).String())
		}
	}
	if s.Resources.Reservations.Memory > s.Resources.Limits.Memory {
		// Docker refuses to create such a container.
		ps.AddComparing("resources.reservations.memory", []string{"resources.limits.memory"}, "%q is above the memory limit %q; a reservation must fit under its limit",
			s.Resources.Reservations.Memory.String(), s.Resources.Limits.Memory.String())
	}
	h := s.Healthcheck
	if h.Interval < units.Duration(time.Millisecond) {
		ps.Add("healthcheck.interval", "%q must be at least 1ms", h.Interval.String())
	}
	if h.Timeout < units.Duration(time.Millisecond) {
		ps.Add("healthcheck.timeout", "%q must be at least 1ms", h.Timeout.String())
	}
	if h.StartPeriod < 0 {
		ps.Add("healthcheck.startPeriod", "%q must not be negative", h.StartPeriod.String())
	}
	if h.StartInterval != 0 && (h.StartInterval < units.Duration(time.Millisecond) || h.StartInterval > h.Interval) {
		// Docker's own lower bound; above the interval it would slow the start.
		ps.Add("healthcheck.startInterval", "%q must be at least 1ms and at most the interval %q (or 0, unset)", h.StartInterval.String(), h.Interval.String())
	}
	if h.Retries < 1 {
		ps.Add("healthcheck.retries", "%d must be at least 1", h.Retries)
	}
	switch s.Restart.Condition {
	case "on-failure", "always", "unless-stopped", "no":
	default:
		ps.Add("restart.condition", "%q is not a restart condition (one of on-failure, always, unless-stopped, no)", s.Restart.Condition)
	}
	if s.Restart.MaxAttempts < 0 {
		ps.Add("restart.maxAttempts", "%d must not be negative (0 means no limit)", s.Restart.MaxAttempts)
	}
	if s.Logs.Driver == "" {
		ps.Add("logs.driver", "must be set (json-file rotates with maxSize and maxFiles)")
	}
	if s.Logs.Driver == "json-file" || s.Logs.Driver == "local" {
		if s.Logs.MaxSize < units.Size(units.KiB) {
			ps.Add("logs.maxSize", "%q must be at least 1K", s.Logs.MaxSize.String())
		}
		if s.Logs.MaxFiles < 1 {
			ps.Add("logs.maxFiles", "%d must be at least 1", s.Logs.MaxFiles)
		}
	}
	if s.StopTimeout < 0 {
		ps.Add("stopTimeout", "%q must not be negative", s.StopTimeout.String())
	}
	return ps
}
