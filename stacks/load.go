package stacks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/djangostack/infra/components"
	"github.com/djangostack/infra/stacks/stackname"
)

// Config is the stack's Pulumi config, read by full key
// ("django-stack:postgres"); *pulumi.Context is one.
type Config interface {
	GetConfig(key string) (string, bool)
	IsConfigSecret(key string) bool
}

// Secret config keys, set with `pulumi config set --secret`.
const (
	// CloudflareTokenKey is the Cloudflare provider's own key for its token.
	CloudflareTokenKey = "cloudflare:apiToken"
	// RegistryPasswordKey is the password of host.registry, in the project's namespace.
	RegistryPasswordKey = "registryPassword"
	// OffsiteSecretKeyKey is the storage key's secret of backup.offsite.
	OffsiteSecretKeyKey = "offsiteSecretKey"
)

// ConfigKeys are the top-level config keys the program reads, in the
// project's namespace: the json names of Profile's fields.
func ConfigKeys() []string {
	return settingNames(reflect.TypeOf(Profile{}))
}

// Load builds a stack's profile: the profile the stack name selects, each
// config key merged onto it, then the defaults that derive from other values.
// It reports every problem of the config at once, each with its key: values
// that cannot be read or cannot work, and in production the guardrails the
// profile breaks. Elsewhere broken guardrails come back as warnings.
func Load(project, stack string, cfg Config) (Profile, components.Problems, error) {
	p := ForStack(stack)
	var problems components.Problems
	target := reflect.ValueOf(&p).Elem()
	for _, key := range ConfigKeys() {
		raw, ok := cfg.GetConfig(project + ":" + key)
		if !ok {
			continue
		}
		field, _ := fieldByName(target, key)
		overlay(field, decodeConfig(raw), key, &problems)
	}
	problems = append(problems, loadCredentials(project, &p, cfg)...)
	// Validate what was read too, so that one pass reports everything; a
	// key that could not be read keeps its default and is reported once.
	p.derive(stack)
	unreadable := map[string]bool{}
	for _, pr := range problems {
		unreadable[pr.Key] = true
	}
	guardrailErrors, warnings := Guardrails(stack, p)
	for _, pr := range append(Validate(stack, p), guardrailErrors...) {
		if !unreadable[pr.Key] {
			problems = append(problems, pr)
		}
	}
	sortByKey(problems)
	sortByKey(warnings)
	if err := problems.Err(); err != nil {
		return p, warnings, fmt.Errorf("stack %s: the configuration has %s; nothing was deployed:\n%w", stack, countProblems(len(problems)), err)
	}
	return p, warnings, nil
}

func sortByKey(ps components.Problems) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
}

// decodeConfig reads a config value as Pulumi hands it over: objects and
// lists as JSON text, scalars as plain text.
func decodeConfig(raw string) any {
	var v any
	if strings.HasPrefix(strings.TrimSpace(raw), "{") || strings.HasPrefix(strings.TrimSpace(raw), "[") {
		if err := json.Unmarshal([]byte(raw), &v); err == nil {
			return v
		}
	}
	return raw
}

// loadCredentials reads the secrets the profile needs from config: the
// Cloudflare token when the stack has a zone, the registry password when it
// pulls from a private registry. A secret in plain text is refused.
func loadCredentials(project string, p *Profile, cfg Config) (ps components.Problems) {
	read := func(key, why string) string {
		value, ok := cfg.GetConfig(key)
		switch {
		case !ok || value == "":
			ps.Add(key, "must be set %s: pulumi config set --secret %s <value>", why, key)
		case !cfg.IsConfigSecret(key):
			ps.Add(key, "is stored in plain text in the stack's config; set it again with --secret, and rotate it")
		default:
			return value
		}
		return ""
	}
	if p.Edge.Enabled() {
		p.Credentials.CloudflareToken = read(CloudflareTokenKey, "when edge.zoneId is (a token with Zone Settings Edit, DNS Edit, Zone Read on the zone)")
	}
	if p.Host.Registry.Address != "" {
		p.Credentials.RegistryPassword = read(project+":"+RegistryPasswordKey, "when host.registry.address is")
	}
	if p.Backup.Enabled && p.Backup.Offsite.Enabled() {
		p.Credentials.OffsiteSecretKey = read(project+":"+OffsiteSecretKeyKey, "when backup.offsite.url is")
	}
	return ps
}

// derive fills the defaults that depend on other values of the profile.
func (p *Profile) derive(stack string) {
	// A clone of staging answers on its own name under staging's domains.
	p.Domains = stackname.Domains(stack, p.Domains)
	// The guide's CORS_ALLOWED_ORIGINS is the site's own origins. A domain
	// that is not one is reported as such, not once more as an origin.
	if len(p.Backend.CORS.AllowedOrigins) == 0 {
		site := p.Site()
		site.Domains = nil
		for _, d := range p.Domains {
			if _, err := components.ParseDomain(d); err == nil {
				site.Domains = append(site.Domains, d)
			}
		}
		p.Backend.CORS.AllowedOrigins = site.Origins()
	}
}

func countProblems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
