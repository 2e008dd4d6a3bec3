package components

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Problem is one thing wrong with a setting: the config key it sits at
// ("postgres.tuning.sharedBuffers") and what is wrong with it.
type Problem struct {
	Key string
	Msg string
	// Refs are the other keys whose values the finding compares Key's
	// with ("postgres.resources.limits.memory" for shared_buffers): when
	// one of them could not be read, the finding is not news.
	Refs []string
}

func (p Problem) Error() string { return p.Key + ": " + p.Msg }

// Problems collects every problem of a configuration, so that a user fixes a
// config in one pass instead of one error per `pulumi preview`.
type Problems []Problem

// Add records a problem at key.
func (ps *Problems) Add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// AddComparing records a problem at key that compares its value with the
// values at refs.
func (ps *Problems) AddComparing(key string, refs []string, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Refs: refs})
}

// Merge records the problems of a nested setting under prefix.
func (ps *Problems) Merge(prefix string, nested Problems) {
	for _, p := range nested {
		refs := make([]string, len(p.Refs))
		for i, r := range p.Refs {
			refs[i] = JoinKey(prefix, r)
		}
		*ps = append(*ps, Problem{Key: JoinKey(prefix, p.Key), Msg: p.Msg, Refs: refs})
	}
}

// Err returns nil when there is no problem, else all of them joined.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// JoinKey is the config key of key under prefix: "postgres" and
// "tuning.workMem" make "postgres.tuning.workMem". An index ("[2]") joins
// without a dot, and an empty key is the prefix itself, so that a nested
// setting can report a problem with its list's items or with itself.
func JoinKey(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

// DockerMinMemory is the smallest memory limit or reservation the Docker
// daemon accepts since 20.10 ("Minimum memory limit allowed is 6MB").
const DockerMinMemory = 6 * MiB

// Check reports what cannot work in any deployment: non-positive amounts,
// unknown restart conditions, a healthcheck that can never pass.
func (s ContainerSettings) Check() Problems {
	var ps Problems
	for _, r := range []struct {
		key    string
		amount ResourceAmount
	}{{"resources.limits", s.Resources.Limits}, {"resources.reservations", s.Resources.Reservations}} {
		if r.amount.CPUs <= 0 {
			ps.Add(r.key+".cpus", "%q must be more than 0", r.amount.CPUs.String())
		}
		if r.amount.Memory < Size(DockerMinMemory) || int64(r.amount.Memory)%MiB != 0 {
			ps.Add(r.key+".memory", "%q must be a whole number of MiB, at least %s (Docker's minimum since 20.10)", r.amount.Memory.String(), Size(DockerMinMemory).String())
		}
	}
	if s.Resources.Reservations.Memory > s.Resources.Limits.Memory {
		// Docker refuses to create such a container.
		ps.AddComparing("resources.reservations.memory", []string{"resources.limits.memory"}, "%q is above the memory limit %q; a reservation must fit under its limit",
			s.Resources.Reservations.Memory.String(), s.Resources.Limits.Memory.String())
	}
	h := s.Healthcheck
	if h.Interval < Duration(time.Millisecond) {
		ps.Add("healthcheck.interval", "%q must be at least 1ms", h.Interval.String())
	}
	if h.Timeout < Duration(time.Millisecond) {
		ps.Add("healthcheck.timeout", "%q must be at least 1ms", h.Timeout.String())
	}
	if h.StartPeriod < 0 {
		ps.Add("healthcheck.startPeriod", "%q must not be negative", h.StartPeriod.String())
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
		if s.Logs.MaxSize < Size(KiB) {
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

// checkImage reports an image reference that is empty or malformed.
func checkImage(ps *Problems, key, ref string) {
	if ref == "" {
		ps.Add(key, "must be set (an image reference such as postgres:16-alpine)")
	} else if _, err := ParseImageRef(ref); err != nil {
		ps.Add(key, "%v", err)
	}
}

// resolve returns a component's settings: the given ones, or the guide's
// when given is nil, once they pass their own checks and the constructor's
// (more, may be nil).
func resolve[S interface{ Check() Problems }](component string, given *S, guide func() S, more func(S) Problems) (S, error) {
	s := guide()
	if given != nil {
		s = *given
	}
	ps := s.Check()
	if more != nil {
		ps = append(ps, more(s)...)
	}
	if err := ps.Err(); err != nil {
		return s, fmt.Errorf("%s: %w", component, err)
	}
	return s, nil
}
