// Package stackname holds what a stack's name decides: which profile it
// starts from and, for a clone of staging, the names it answers on. It is
// small on purpose: tools such as cmd/envctl use it without linking the
// whole program.
package stackname

import "strings"

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
