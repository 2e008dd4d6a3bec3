// Package stackname holds what a stack's name decides: which profile it
// starts from and, for a clone of staging, the names it answers on. It is
// small on purpose: tools such as cmd/envctl use it without linking the
// whole program.
package stackname

import (
	"fmt"
	"strings"

	"github.com/djangostack/infra/components/naming"
)

// Stack names with a profile of their own. Any other name is a clone of staging.
const (
	Production = "production"
	Staging    = "staging"
	Local      = "local"
)

// IsClone reports whether a stack is a clone of staging: any name without a
// profile of its own.
func IsClone(stack string) bool {
	return stack != Production && stack != Staging && stack != Local
}

// Domains are the domains a stack answers on, given its configured ones. A
// clone copies staging's config and answers on its own name under staging's
// domains: pr-42.staging.example.com. Configured domains that already start
// with the clone's name are kept as they are.
func Domains(stack string, configured []string) []string {
	out := make([]string, len(configured))
	for i, d := range configured {
		if IsClone(stack) && !strings.HasPrefix(d, stack+".") {
			d = stack + "." + d
		}
		out[i] = d
	}
	return out
}

// CheckClone says why a name cannot be a new clone's, or nil when it can. A
// clone's name becomes the first label of its host name
// (pr-42.staging.example.com) and part of every Docker name
// (django-stack-pr-42-postgres), so it must be a lower-case DNS label, and it
// must not be a stack with a profile of its own.
func CheckClone(name string) error {
	if !IsClone(name) {
		return fmt.Errorf("%q has a profile of its own, not staging's: a clone needs another name, such as pr-42", name)
	}
	if !isLabel(name) {
		return fmt.Errorf("%q cannot name a clone: it becomes a host name (%s.staging.example.com) and part of Docker names, "+
			"so use lower-case letters, digits and hyphens, at most %d, starting and ending with a letter or digit, such as pr-42",
			name, name, naming.MaxDNSLabel)
	}
	return nil
}

// Check says why a stack cannot deploy under a name, or nil when it can:
// production, staging and local, and any name CheckClone takes. A name that
// differs from one of the three only in case is a clone of staging, which
// no one means: the error says so.
func Check(name string) error {
	if !IsClone(name) {
		return nil
	}
	for _, own := range []string{Production, Staging, Local} {
		if strings.EqualFold(name, own) {
			return fmt.Errorf("%q is not %q: stack names are case-sensitive, and any name but production, staging and local deploys a clone of staging; rename the stack (pulumi stack rename %s)", name, own, own)
		}
	}
	return CheckClone(name)
}

func isLabel(s string) bool {
	if s == "" || len(s) > naming.MaxDNSLabel || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
