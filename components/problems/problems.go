package problems

import (
	"errors"
	"fmt"
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
// "tuning.workMem" make "postgres.tuning.workMem". The key always takes a
// dot, even when it is a name a user wrote oddly ("", "[x]"): the key then
// still names the entry, as the overlay and the checks both write it.
func JoinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// resolve returns a component's settings: the given ones, or the guide's
// when given is nil, once they pass their own checks and the constructor's
// (more, may be nil).
func Resolve[S interface{ Check() Problems }](component string, given *S, guide func() S, more func(S) Problems) (S, error) {
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
