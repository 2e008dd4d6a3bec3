package stacks

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/units"
	"github.com/djangostack/infra/stacks/stackname"
)

// Config is a stack's Pulumi config: every key it sets, in full
// ("django-stack:postgres", "cloudflare:apiToken"), and each one's value as
// Pulumi hands it over (objects and lists as JSON, scalars as text).
type Config interface {
	Keys() []string
	GetConfig(key string) (string, bool)
	IsConfigSecret(key string) bool
}

// MapConfig is a Config held in memory, as pulumi.RunInfo holds it.
type MapConfig struct {
	Values  map[string]string
	Secrets []string
}

func (c MapConfig) Keys() []string                      { return slices.Sorted(maps.Keys(c.Values)) }
func (c MapConfig) GetConfig(key string) (string, bool) { v, ok := c.Values[key]; return v, ok }
func (c MapConfig) IsConfigSecret(key string) bool      { return slices.Contains(c.Secrets, key) }

// Secret config keys, set with `pulumi config set --secret`.
const (
	// CloudflareTokenKey is the Cloudflare provider's own key for its token.
	CloudflareTokenKey = "cloudflare:apiToken"
	// RegistryPasswordKey is the password of host.registry, in the project's namespace.
	RegistryPasswordKey = "registryPassword"
	// OffsiteSecretKeyKey is the storage key's secret of backup.offsite.
	OffsiteSecretKeyKey = "offsiteSecretKey"
	// BackendSecretsKey holds the app's own secret variables, an object of
	// names to values, each set with
	// `pulumi config set --secret --path 'backendSecrets.SENTRY_DSN' <value>`.
	BackendSecretsKey = "backendSecrets"
)

// ConfigKeys are the top-level config keys the program reads, in the
// project's namespace: the json names of Profile's fields.
func ConfigKeys() []string {
	return settingNames(reflect.TypeOf(Profile{}))
}

// KnownKeys are every key the program reads in the project's namespace:
// ConfigKeys and the secrets.
func KnownKeys() []string {
	return slices.Sorted(slices.Values(append(ConfigKeys(), RegistryPasswordKey, OffsiteSecretKeyKey, BackendSecretsKey)))
}

// Stack names the stack a profile is loaded for.
type Stack struct {
	// Project is the Pulumi project, the namespace of its config keys.
	Project string
	// Name is the stack's name: production, staging, local, or a clone.
	Name string
	// Root is the project's directory, where Pulumi.yaml is: a local build
	// context is relative to it.
	Root string
}

// StackNameKey is where a problem of the stack's name is reported: the name
// is no config key, and no config key can be named so.
const StackNameKey = "stack name"

// Load builds a stack's profile: the profile the stack name selects, each
// config key merged onto it, then the defaults that derive from other values.
// It reports every problem of the config at once, each with its key and the
// value as the config wrote it: keys the program does not read, values that
// cannot be read or cannot work, and in production the guardrails the
// profile breaks. Elsewhere broken guardrails come back as warnings, with
// what the program normalised.
func Load(s Stack, cfg Config) (Profile, problems.Problems, error) {
	p := ForStack(s.Name)
	r := newReader()
	checkStackName(&r.problems, s.Project, s.Name)
	target := reflect.ValueOf(&p).Elem()
	refused := refuseSecretSettings(r, s, cfg)
	for _, key := range ConfigKeys() {
		raw, ok := cfg.GetConfig(s.Project + ":" + key)
		if !ok || refused[key] {
			continue
		}
		field, _ := fieldByName(target, key)
		r.overlay(field, decodeConfig(raw), key)
	}
	unknownKeys(r, s.Project, cfg)
	r.problems = append(r.problems, loadCredentials(s.Project, &p, cfg)...)
	// Validate what was read too, so that one pass reports everything.
	found := Validate(s.Name, p)
	notes := p.normalise()
	p.derive(s.Name)
	found = append(found, checkBuildContext(s.Root, p.Backend)...)
	guardrailErrors, warnings := Guardrails(s.Name, p)
	found = append(found, guardrailErrors...)
	warnings = append(warnings, ineffective(p)...)
	// One problem per key: what cannot work comes first, and what is only
	// unwise about the same value is no news.
	problems := oncePerKey(withoutFollowOns(append(r.problems, r.news(found)...), nil))
	warnings = withoutFollowOns(append(notes, r.news(warnings)...), problems)
	r.asWritten(problems)
	r.asWritten(warnings)
	sortByKey(problems)
	sortByKey(warnings)
	if err := problems.Err(); err != nil {
		return p, warnings, &ConfigError{Stack: s.Name, Problems: problems}
	}
	return p, warnings, nil
}

// ConfigError is a configuration that cannot be deployed: every problem,
// each at its key.
type ConfigError struct {
	Stack    string
	Problems problems.Problems
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return fmt.Sprintf("stack %s: the configuration has %s; nothing was deployed:\n%s", e.Stack, countProblems(len(e.Problems)), strings.Join(lines, "\n"))
}

// withoutFollowOns drops the findings that compare with a value that has a
// problem of its own (a reservation above a limit that is no limit), and,
// among warnings, those at a key that has an error.
func withoutFollowOns(found, errs problems.Problems) problems.Problems {
	bad := map[string]bool{}
	for _, p := range append(slices.Clone(errs), found...) {
		bad[p.Key] = true
	}
	var out problems.Problems
	for _, f := range found {
		followOn := slices.ContainsFunc(f.Refs, func(ref string) bool { return bad[ref] && ref != f.Key })
		hasError := slices.ContainsFunc(errs, func(p problems.Problem) bool { return p.Key == f.Key })
		if !followOn && !hasError {
			out = append(out, f)
		}
	}
	return out
}

// oncePerKey keeps the first problem at each key.
func oncePerKey(ps problems.Problems) problems.Problems {
	seen := map[string]bool{}
	var out problems.Problems
	for _, p := range ps {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out
}

func sortByKey(ps problems.Problems) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
}

// unknownKeys reports every key of the project's namespace that the program
// does not read: the engine checks none, and a misspelt key would otherwise
// leave its setting at the default without a word. Other namespaces
// (cloudflare:, docker:) belong to their providers.
func unknownKeys(r *reader, project string, cfg Config) {
	known := KnownKeys()
	for _, full := range cfg.Keys() {
		key, ours := strings.CutPrefix(full, project+":")
		if !ours || slices.Contains(known, key) {
			continue
		}
		// `pulumi config set postgres.tuning.workMem 8MB` without --path
		// sets a top-level key with dots in its name.
		if head := key[:strings.IndexAny(key+".", ".[")]; head != key && slices.Contains(known, head) {
			raw, _ := cfg.GetConfig(full)
			arg, flags := quoteArg(raw), "--path"
			switch {
			case cfg.IsConfigSecret(full):
				// A secret is never echoed.
				arg, flags = "<value>", "--secret --path"
			case strings.Contains(raw, "\n"):
				// Text of many lines (a PEM certificate, or a key pasted
				// by mistake) is not echoed: the command reads a file.
				arg = `-- "$(cat <file>)"`
			}
			r.fail(key, "is not a top-level setting: a key inside %s is set with --path (pulumi config set %s '%s' %s)", head, flags, key, arg)
			continue
		}
		r.unknown("", key, known)
	}
}

// quoteArg quotes a value for a shell command line when it needs it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'$`\\|&;<>(){}*?[]#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
func loadCredentials(project string, p *Profile, cfg Config) (ps problems.Problems) {
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
	secrets, found := loadBackendSecrets(project, p.Backend.Env, cfg)
	p.Credentials.BackendSecrets = secrets
	return append(ps, found...)
}

// loadBackendSecrets reads backendSecrets: an object of variable names to
// values, secret as a whole. Pulumi marks a key secret when any value in it
// is, so each entry is set with --secret; a value is never echoed.
func loadBackendSecrets(project string, env map[string]string, cfg Config) (_ map[string]string, ps problems.Problems) {
	raw, ok := cfg.GetConfig(project + ":" + BackendSecretsKey)
	if !ok {
		return nil, ps
	}
	how := fmt.Sprintf("pulumi config set --secret --path '%s.SENTRY_DSN' <value>", BackendSecretsKey)
	var secrets map[string]any
	if err := json.Unmarshal([]byte(raw), &secrets); err != nil {
		ps.Add(BackendSecretsKey, "must be an object of variable names to secret values: %s", how)
		return nil, ps
	}
	if !cfg.IsConfigSecret(project + ":" + BackendSecretsKey) {
		ps.Add(BackendSecretsKey, "is stored in plain text in the stack's config; set each entry again with --secret (%s), and rotate them", how)
		return nil, ps
	}
	values := map[string]string{}
	for name, v := range secrets {
		switch text, isText := v.(string); {
		case !isText:
			ps.Add(BackendSecretsKey+"."+name, "must be a text value (a number or an object is not); set it with %s", strings.Replace(how, "SENTRY_DSN", name, 1))
		case text == "":
			ps.Add(BackendSecretsKey+"."+name, "is empty; remove it (pulumi config rm --path '%s.%s') or give it a value", BackendSecretsKey, name)
		default:
			values[name] = text
		}
	}
	ps.Merge(BackendSecretsKey, backend.CheckAppSecrets(slices.Collect(maps.Keys(secrets)), env))
	return values, ps
}

// normalise writes the names that ignore case in lower case: the domains
// (DNS) and the hosts of CORS origins (a browser's Origin header is lower
// case, and django-cors-headers compares it exactly). It returns a note for
// each value it changed.
func (p *Profile) normalise() (notes problems.Problems) {
	for i, d := range p.Domains {
		if lower, err := units.ParseDomain(d); err == nil && lower != d {
			p.Domains[i] = lower
			notes.Add(fmt.Sprintf("domains[%d]", i), "%q is used as %q: DNS names ignore case, and the site's origins and ALLOWED_HOSTS are written in lower case", d, lower)
		}
	}
	for i, text := range p.Backend.CORS.AllowedOrigins {
		if o, err := units.ParseOrigin(text); err == nil && o.String() != text {
			p.Backend.CORS.AllowedOrigins[i] = o.String()
			notes.Add(fmt.Sprintf("backend.cors.allowedOrigins[%d]", i), "%q is used as %q: browsers send the Origin header in lower case, and it is compared exactly", text, o.String())
		}
	}
	return notes
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
			if _, err := units.ParseDomain(d); err == nil {
				site.Domains = append(site.Domains, d)
			}
		}
		p.Backend.CORS.AllowedOrigins = site.Origins()
	}
}

// news keeps the findings that are not a consequence of a value that could
// not be read: at such a key, under it, or comparing with it.
func (r *reader) news(found problems.Problems) problems.Problems {
	var out problems.Problems
	for _, p := range found {
		if !r.followsUnread(p.Key) && !slices.ContainsFunc(p.Refs, r.followsUnread) {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) followsUnread(key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if r.unread[k] {
			return true
		}
	}
	return false
}

// parentKey is the key a key sits in: "a.b[2]" -> "a.b" -> "a" -> "".
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

// asWritten makes each finding quote its key's value as the config wrote
// it: the checks quote values as the program renders them ("0B" for a "0M"
// written, "0.0" for 0), which the user may not recognise.
func (r *reader) asWritten(found problems.Problems) {
	for i, f := range found {
		// The key's own value comes first in a message; the values it is
		// compared with follow.
		msg := r.asWrittenAt(f.Key, f.Msg, false)
		for _, ref := range f.Refs {
			msg = r.asWrittenAt(ref, msg, true)
		}
		found[i].Msg = msg
	}
}

// asWrittenAt quotes the value at key in msg as the config wrote it, when
// the config set it and the program renders it otherwise: its first
// quotation in msg, or its last for a value compared with.
func (r *reader) asWrittenAt(key, msg string, last bool) string {
	written, ok := r.written[key]
	if !ok {
		return msg
	}
	t, ok := typeAt(reflect.TypeOf(Profile{}), key)
	if !ok {
		return msg
	}
	rendered, ok := render(t, written)
	if !ok || rendered == written {
		return msg
	}
	i := strings.Index(msg, strconv.Quote(rendered))
	if last {
		i = strings.LastIndex(msg, strconv.Quote(rendered))
	}
	if i < 0 {
		return msg
	}
	return msg[:i] + strconv.Quote(written) + msg[i+len(strconv.Quote(rendered)):]
}

// typeAt is the type of the profile's setting at a key ("a.b[2].c"). The
// entries of a map are not settings of their own.
func typeAt(t reflect.Type, key string) (reflect.Type, bool) {
	for _, part := range strings.Split(key, ".") {
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		name, _, indexed := strings.Cut(part, "[")
		f, ok := fieldByName(reflect.New(t).Elem(), name)
		if !ok {
			return nil, false
		}
		t = f.Type()
		if indexed {
			if t.Kind() != reflect.Slice {
				return nil, false
			}
			t = t.Elem()
		}
	}
	return t, true
}

// render is a written value as the program renders it once read.
func render(t reflect.Type, written string) (string, bool) {
	v := reflect.New(t)
	if u, ok := v.Interface().(encoding.TextUnmarshaler); ok {
		if u.UnmarshalText([]byte(written)) != nil {
			return "", false
		}
		m, ok := v.Elem().Interface().(encoding.TextMarshaler)
		if !ok {
			return "", false
		}
		b, err := m.MarshalText()
		return string(b), err == nil
	}
	switch t.Kind() {
	case reflect.Int:
		if f, ok := number(written); ok {
			return strconv.FormatInt(int64(f), 10), true
		}
	case reflect.Float64:
		if f, ok := number(written); ok {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
	}
	return "", false
}

func countProblems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
