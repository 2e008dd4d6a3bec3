// Package tests runs the program under Pulumi mocks: every registration is
// recorded with its type, name, parent, options and inputs, so tests can
// assert what a stack would deploy without a Docker engine or a cloud account.
package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/stacks"
	"github.com/djangostack/infra/stacks/engine"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"gopkg.in/yaml.v3"
)

const project = "django-stack"

type resourceURN = resource.URN

// Type tokens the program may register. An unknown one fails the run: it
// means a resource type docs/architecture.md, the golden files and the plugin list do
// not know about.
const (
	typeContainer      = "docker:index/container:Container"
	typeNetwork        = "docker:index/network:Network"
	typeVolume         = "docker:index/volume:Volume"
	typeRemoteImage    = "docker:index/remoteImage:RemoteImage"
	typeImage          = "docker:index/image:Image"
	typeRandomPassword = "random:index/randomPassword:RandomPassword"
	typeStack          = "pulumi:pulumi:Stack"
	typeRecord         = "cloudflare:index/record:Record"
	typeZoneSettings   = "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride"
	typeCloudflare     = "pulumi:providers:cloudflare"
	typeService        = "docker:index/service:Service"
	typeSecret         = "docker:index/secret:Secret"
	typeServiceConfig  = "docker:index/serviceConfig:ServiceConfig"
	typeDockerProvider = "pulumi:providers:docker"
)

var knownTypes = map[string]bool{
	typeContainer: true, typeNetwork: true, typeVolume: true, typeRemoteImage: true, typeImage: true,
	typeRandomPassword: true, typeStack: true, typeRecord: true, typeZoneSettings: true, typeCloudflare: true,
	typeService: true, typeSecret: true, typeServiceConfig: true, typeDockerProvider: true,
	"django-stack:components:Secrets":  true,
	"django-stack:components:Postgres": true,
	"django-stack:components:Redis":    true,
	"django-stack:components:Backend":  true,
	"django-stack:components:Nginx":    true,
	"django-stack:components:Traefik":  true,
	"django-stack:components:Edge":     true,
	"django-stack:components:Backup":   true,
	"django-stack:stack:DestroyGuard":  true,
}

// Registration is one resource as the program registered it.
type Registration struct {
	URN            resource.URN
	Type           string
	Name           string
	Parent         resource.URN
	Custom         bool
	Protect        bool
	RetainOnDelete bool
	DependsOn      []resource.URN
	IgnoreChanges  []string
	// ReplaceOnChanges and DeleteBeforeReplace are its options of those
	// names.
	ReplaceOnChanges    []string
	DeleteBeforeReplace bool
	// Provider is the provider reference ("urn::id") of a custom resource.
	Provider string
	Inputs   resource.PropertyMap
	// writer is the container that wrote a container's files into its
	// volumes (runtime.FilesLabel names it).
	writer *Registration
}

// isFileWriter tells the container that writes another one's files and
// never starts.
func (reg *Registration) isFileWriter() bool {
	start, ok := reg.Inputs["start"]
	return reg.Type == typeContainer && ok && start.IsBool() && !start.BoolValue()
}

// recorder is the mock resource monitor.
type recorder struct {
	stack string
	// previous are the outputs the stack's last deployment left.
	previous map[string]any
	// checkpointBusy is how many reads of them fail first, as the file
	// backend's do while the update writes the checkpoint.
	checkpointBusy int
	// failJob names the one-shot container that fails (a part of its
	// logical name), with jobLogs as its output; the others exit 0.
	failJob string
	jobLogs string
	// unregistered makes every pulled image one no registry knows: the
	// provider reads an empty repoDigest for an image built or loaded on
	// the host.
	unregistered bool
	// engine is the host's Docker Engine as the program learns it; nil is
	// currentEngine. No test contacts a daemon.
	engine engine.Prober
	mu     sync.Mutex
	regs   []*Registration
	// calls are the functions the program invoked, in order.
	calls []string
	byURN map[resource.URN]*Registration
	errs  []error
}

func newRecorder(stack string) *recorder {
	return &recorder{stack: stack, byURN: map[resource.URN]*Registration{}}
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	parent := resource.URN("")
	if rpc != nil {
		parent = resource.URN(rpc.GetParent())
	} else if args.ReadRPC != nil {
		parent = resource.URN(args.ReadRPC.GetParent())
	}
	parentType := tokens.Type("")
	if parent != "" {
		parentType = parent.QualifiedType()
	}
	urn := resource.NewURN(tokens.QName(r.stack), tokens.PackageName(project), parentType, tokens.Type(args.TypeToken), args.Name)
	reg := &Registration{URN: urn, Type: args.TypeToken, Name: args.Name, Parent: parent, Custom: args.Custom, Inputs: args.Inputs, Provider: args.Provider}
	if rpc != nil {
		reg.Protect = rpc.GetProtect()
		reg.RetainOnDelete = rpc.GetRetainOnDelete()
		reg.IgnoreChanges = rpc.GetIgnoreChanges()
		reg.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		reg.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		for _, d := range rpc.GetDependencies() {
			reg.DependsOn = append(reg.DependsOn, resource.URN(d))
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if !knownTypes[args.TypeToken] {
		err := fmt.Errorf("unknown resource type %q (%s)", args.TypeToken, args.Name)
		r.errs = append(r.errs, err)
		return "", nil, err
	}
	if _, dup := r.byURN[urn]; dup {
		// The engine refuses a second resource with the same URN; the mock
		// monitor does not, so the recorder does.
		err := fmt.Errorf("duplicate URN %s", urn)
		r.errs = append(r.errs, err)
		return "", nil, err
	}
	r.regs = append(r.regs, reg)
	r.byURN[urn] = reg
	if reg.Type == typeContainer {
		if id := reg.labels()[runtime.FilesLabel]; id != "" {
			for _, w := range r.regs {
				if w.Type == typeContainer && w.Name+"-id" == id {
					reg.writer = w
				}
			}
		}
	}

	outputs := args.Inputs.Copy()
	switch args.TypeToken {
	case typeRemoteImage:
		outputs["imageId"] = resource.NewStringProperty("sha256:" + args.Name)
		outputs["repoDigest"] = resource.NewStringProperty(args.Inputs["name"].StringValue() + "@sha256:" + args.Name)
		if r.unregistered {
			outputs["repoDigest"] = resource.NewStringProperty("")
		}
	case typeImage:
		// A local build's repoDigest is the built image's id.
		outputs["repoDigest"] = resource.NewStringProperty("sha256:built-" + args.Name)
	case typeContainer:
		// A one-shot container attached to its run reports how it ended.
		if args.Inputs["attach"].IsBool() && args.Inputs["attach"].BoolValue() {
			code, logs := 0, ""
			if r.failJob != "" && strings.Contains(args.Name, r.failJob) {
				code, logs = 1, r.jobLogs
			}
			outputs["exitCode"] = resource.NewNumberProperty(float64(code))
			outputs["containerLogs"] = resource.NewStringProperty(logs)
		}
	case typeRandomPassword:
		// The provider marks the result secret; the mock monitor does not
		// apply that, so the mock returns it secret itself.
		outputs["result"] = resource.MakeSecret(resource.NewStringProperty("mock-" + args.Name))
	}
	return args.Name + "-id", outputs, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, args.Token)
	if args.Token == "pulumi:pulumi:readStackOutputs" && r.checkpointBusy > 0 {
		// The file backend, read while the update writes the checkpoint.
		r.checkpointBusy--
		return nil, errors.New("failed to load checkpoint: EOF")
	}
	if args.Token == "pulumi:pulumi:readStackOutputs" {
		// The stack's own last outputs, as a test set them (none: a stack
		// that was never deployed).
		return resource.PropertyMap{
			"name":    args.Args["name"],
			"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(r.previous)),
		}, nil
	}
	err := fmt.Errorf("unexpected call of %s", args.Token)
	r.errs = append(r.errs, err)
	return nil, err
}

// fakeEngine is a host's Docker Engine as a test has it: its version, or
// the error of a host out of reach. It is asked once per run.
type fakeEngine struct {
	version engine.Version
	err     error
	mu      sync.Mutex
	asked   []engine.Host
}

func (f *fakeEngine) Probe(_ context.Context, h engine.Host) (engine.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, h)
	return f.version, f.err
}

// currentEngine is the engine the tests deploy to unless they say
// otherwise: a Docker that takes a start interval.
var currentEngine = &fakeEngine{version: engine.Version{API: "1.45", Engine: "26.1.5"}}

// run is one execution of the program under mocks.
type run struct {
	t     *testing.T
	stack string
	rec   *recorder
	// deployment is set when the program got as far as registering.
	deployment *stacks.Deployment
	warnings   problems.Problems
	// logged are the warnings the program logged through the engine.
	logged []string
	// err is the program's error as the user sees it: the one message
	// the program logs.
	err error
	// reported is set when the program reported err itself (through the
	// engine's log), as it does every error of its own.
	reported bool
}

// deploy runs the program for a stack with config given as key: value, the
// values written as they would be in Pulumi.<stack>.yaml.
func deploy(t *testing.T, stack string, config map[string]any) *run {
	t.Helper()
	return deployWith(t, newRecorder(stack), config)
}

// deployAfter runs the program as the next update after an earlier run: the
// stack's last outputs are the earlier run's.
func deployAfter(t *testing.T, before *run, config map[string]any) *run {
	t.Helper()
	return deployAfterWith(t, before, newRecorder(before.stack), config)
}

// deployAfterWith is deployAfter with a recorder of the test's (one whose
// jobs fail).
func deployAfterWith(t *testing.T, before *run, rec *recorder, config map[string]any) *run {
	t.Helper()
	rec.previous = map[string]any{}
	for _, name := range []string{"specs", "dataVolumes", "jobs", "fingerprintKey", "engine", "backendImage", "previousBackendImage"} {
		if before.deployment.Outputs[name] == nil {
			continue
		}
		out := await(t, pulumi.ToOutput(before.deployment.Outputs[name]))
		rec.previous[name] = out.Value
		if out.Secret {
			// The engine hands a secret output back as a secret.
			rec.previous[name] = resource.MakeSecret(resource.NewPropertyValue(out.Value))
		}
	}
	return deployWith(t, rec, config)
}

func deployWith(t *testing.T, rec *recorder, config map[string]any) *run {
	t.Helper()
	return deployReading(t, rec, nil, config)
}

// deployReading is deployWith with the program reading the last
// deployment's record through previous (nil: the engine's, which asks the
// mock).
func deployReading(t *testing.T, rec *recorder, previous stacks.PreviousReader, config map[string]any) *run {
	t.Helper()
	stack := rec.stack
	r := &run{t: t, stack: stack, rec: rec}
	withConfig := func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys = configFor(t, config)
		// The project directory, which the local build context is relative to.
		info.RootDirectory = ".."
	}
	// The program as main runs it, with an environment of its own.
	prober := rec.engine
	if prober == nil {
		prober = currentEngine
	}
	program := &stacks.Program{Getenv: func(string) string { return "" }, Previous: previous, Engine: prober}
	deploy := func(ctx *pulumi.Context) error {
		ctx.Log = &warnLog{Log: ctx.Log, warnings: &r.logged}
		res, err := program.Run(ctx)
		r.deployment, r.warnings = res.Deployment, res.Warnings
		return err
	}
	err := pulumi.RunErr(deploy, pulumi.WithMocks(project, stack, r.rec), withConfig, program.ReadConfig)
	var reported *stacks.Reported
	if errors.As(err, &reported) {
		r.err, r.reported = reported.Err, true
	} else {
		r.err = err
	}
	if len(r.rec.errs) > 0 {
		t.Fatalf("the mock refused registrations: %v", r.rec.errs)
	}
	return r
}

// warnLog keeps the warnings logged through it.
type warnLog struct {
	pulumi.Log
	mu       sync.Mutex
	warnings *[]string
}

func (l *warnLog) Warn(msg string, args *pulumi.LogArgs) error {
	l.mu.Lock()
	*l.warnings = append(*l.warnings, msg)
	l.mu.Unlock()
	return l.Log.Warn(msg, args)
}

// deployOK is deploy that fails the test when the program fails.
func deployOK(t *testing.T, stack string, config map[string]any) *run {
	t.Helper()
	r := deploy(t, stack, config)
	if r.err != nil {
		t.Fatalf("stack %s: %v", stack, r.err)
	}
	return r
}

// secret marks a config value as set with `pulumi config set --secret`.
type secret string

// configFor renders config the way the Pulumi CLI hands it to a program:
// full keys, objects and lists as JSON, scalars as text, and the keys whose
// values are secrets.
func configFor(t testing.TB, config map[string]any) (map[string]string, []string) {
	out := map[string]string{}
	var secretKeys []string
	for k, v := range config {
		if !strings.Contains(k, ":") {
			k = project + ":" + k
		}
		switch x := v.(type) {
		case secret:
			out[k] = string(x)
			secretKeys = append(secretKeys, k)
		case string:
			out[k] = x
		default:
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatalf("config %s: %v", k, err)
			}
			out[k] = string(b)
			// As the engine does: an object with a secret inside is secret.
			if holdsSecret(x) {
				secretKeys = append(secretKeys, k)
			}
		}
	}
	return out, secretKeys
}

// holdsSecret reports whether a config value holds a secret anywhere.
func holdsSecret(v any) bool {
	switch x := v.(type) {
	case secret:
		return true
	case map[string]any:
		for _, e := range x {
			if holdsSecret(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holdsSecret(e) {
				return true
			}
		}
	}
	return false
}

// loadProfile loads a stack's profile from config the way the program does.
func loadProfile(t *testing.T, stack string, config map[string]any) stacks.Profile {
	t.Helper()
	values, secrets := configFor(t, config)
	p, _, err := stacks.Load(stacks.Stack{Project: project, Name: stack, Root: ".."}, stacks.MapConfig{Values: values, Secrets: secrets})
	if err != nil {
		t.Fatalf("stack %s: %v", stack, err)
	}
	return p
}

// fixtureDir holds the tests' own Pulumi.<stack>.yaml files. The shipped
// ones at the project's root are a team's to fill with its real facts, so
// the tests never deploy them: only the checks of those files themselves
// read them (stackfiles_test.go).
const fixtureDir = "testdata/stacks"

// fixtureConfig is a stack's config as the tests deploy it:
// testdata/stacks/Pulumi.<stack>.yaml.
func fixtureConfig(t testing.TB, stack string) map[string]any {
	t.Helper()
	return readStackFile(t, filepath.Join(fixtureDir, "Pulumi."+stack+".yaml"))
}

// readStackFile reads the config of a Pulumi.<stack>.yaml. Keys in the
// project's namespace are written short, as tests set them, and a `secure:`
// value becomes a secret holding its ciphertext: the tests have no
// passphrase, and the program only needs to know the value is secret.
func readStackFile(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]any{}
	for k, v := range file.Config {
		out[strings.TrimPrefix(k, project+":")] = secureAsSecret(v)
	}
	return out
}

// secureAsSecret replaces each {secure: ciphertext} in a config value, at
// any depth, by a secret.
func secureAsSecret(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if ciphertext, ok := x["secure"].(string); ok && len(x) == 1 {
			return secret(ciphertext)
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = secureAsSecret(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = secureAsSecret(e)
		}
		return out
	}
	return v
}

// all returns the registrations of a type, in registration order; of
// containers, those that run (not the writers of their files).
func (r *run) all(typ string) []*Registration {
	var out []*Registration
	for _, reg := range r.rec.regs {
		if reg.Type == typ && !reg.isFileWriter() {
			out = append(out, reg)
		}
	}
	return out
}

// get returns the registration of a type and logical name.
func (r *run) get(typ, name string) *Registration {
	r.t.Helper()
	for _, reg := range r.rec.regs {
		if reg.Type == typ && reg.Name == name {
			return reg
		}
	}
	r.t.Fatalf("stack %s registered no %s named %q", r.stack, typ, name)
	return nil
}

// container returns the docker container with a role: its logical name,
// where a backend replica's digest is left out ("backend-1").
func (r *run) container(name string) *Registration {
	r.t.Helper()
	for _, c := range r.all(typeContainer) {
		if role(c.Name) == name {
			return c
		}
	}
	r.t.Fatalf("stack %s registered no container %q", r.stack, name)
	return nil
}

var (
	replicaName   = regexp.MustCompile(`^backend-[0-9a-f]{10}-([0-9]+)$`)
	migrationName = regexp.MustCompile(`^backend-migrate-[0-9a-f]{10}(-[0-9]+)?$`)
	passwordName  = regexp.MustCompile(`^postgres-password-[0-9a-f]{10}(-[0-9]+)?$`)
)

// role is a container's logical name without the digest that backend
// replicas and the one-shot jobs carry, nor a job's attempt: "backend-1",
// "migrate", "postgres-password".
func role(name string) string {
	if m := replicaName.FindStringSubmatch(name); m != nil {
		return "backend-" + m[1]
	}
	if migrationName.MatchString(name) {
		return "migrate"
	}
	if passwordName.MatchString(name) {
		return "postgres-password"
	}
	return name
}

// backends returns the backend replicas in registration order.
func (r *run) backends() []*Registration {
	var out []*Registration
	for _, c := range r.all(typeContainer) {
		if replicaName.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// await resolves an output after the run.
func await(t *testing.T, o pulumi.Output) internals.UnsafeAwaitOutputResult {
	t.Helper()
	res, err := internals.UnsafeAwaitOutput(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// value is an input as plain Go values, secrets unwrapped.
func value(v resource.PropertyValue) any { return plain(v, true) }

// plain converts an input to plain Go values. A secret is unwrapped when
// reveal is set, else replaced by "[secret]" (for snapshots).
func plain(v resource.PropertyValue, reveal bool) any {
	switch {
	case v.IsSecret():
		if !reveal {
			return "[secret]"
		}
		return plain(v.SecretValue().Element, reveal)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return "[unknown]"
		}
		if o.Secret && !reveal {
			return "[secret]"
		}
		return plain(o.Element, reveal)
	case v.IsArray():
		out := []any{}
		for _, e := range v.ArrayValue() {
			out = append(out, plain(e, reveal))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = plain(e, reveal)
		}
		return out
	case v.IsComputed():
		return "[unknown]"
	case v.IsNull():
		return nil
	}
	return v.V
}

// input returns one input of a registration as plain values.
func (reg *Registration) input(key string) any {
	v, ok := reg.Inputs[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	return value(v)
}

func (reg *Registration) str(key string) string {
	s, _ := reg.input(key).(string)
	return s
}

func (reg *Registration) num(key string) float64 {
	n, _ := reg.input(key).(float64)
	return n
}

func (reg *Registration) strings(key string) []string {
	var out []string
	for _, e := range asSlice(reg.input(key)) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// env returns a container's environment, and which variables are secret.
func (reg *Registration) env() (map[string]string, map[string]bool) {
	values, secret := map[string]string{}, map[string]bool{}
	v, ok := reg.Inputs["envs"]
	if !ok {
		return values, secret
	}
	elements := v
	if elements.IsSecret() {
		elements = elements.SecretValue().Element
	}
	for _, e := range elements.ArrayValue() {
		k, val, _ := strings.Cut(fmt.Sprint(value(e)), "=")
		values[k] = val
		secret[k] = e.ContainsSecrets() || v.IsSecret()
	}
	return values, secret
}

// labels returns a container's labels.
func (reg *Registration) labels() map[string]string {
	out := map[string]string{}
	for _, l := range asSlice(reg.input("labels")) {
		m := asMap(l)
		out[fmt.Sprint(m["label"])] = fmt.Sprint(m["value"])
	}
	return out
}

// networks returns the names of the networks a container joins.
func (reg *Registration) networks() []string {
	var out []string
	for _, n := range asSlice(reg.input("networksAdvanced")) {
		out = append(out, fmt.Sprint(asMap(n)["name"]))
	}
	sort.Strings(out)
	return out
}

// upload returns the content of the file a container receives at path, and
// whether it is secret.
//
// A running container's files are in volumes its writer filled: the file
// counts when the container mounts its directory's volume read-only.
func (reg *Registration) upload(path string) (string, bool, bool) {
	if reg.writer != nil {
		for _, v := range asSlice(reg.input("volumes")) {
			m := asMap(v)
			if m["containerPath"] == filepath.Dir(path) && m["readOnly"] == true {
				return reg.writer.upload(path)
			}
		}
		return "", false, false
	}
	v, ok := reg.Inputs["uploads"]
	if !ok {
		return "", false, false
	}

	// A one-shot job receives its secret files staged, and its entrypoint
	// moves them to their paths in its tmpfs.
	staged := path
	if tmpfs, ok := reg.input("tmpfs").(map[string]any); ok && tmpfs[runtime.SecretsDir] != nil {
		staged = runtime.StagedSecret(path)
	}
	for _, u := range v.ArrayValue() {
		obj := u
		if obj.IsSecret() {
			obj = obj.SecretValue().Element
		}
		m := asMap(value(obj))
		if m["file"] == path || m["file"] == staged {
			content := obj.ObjectValue()["content"]
			return fmt.Sprint(m["content"]), u.ContainsSecrets() || content.ContainsSecrets(), true
		}
	}
	return "", false, false
}

// secretFile returns the value of a secret the container receives as a
// file named by NAME_FILE, the convention of the official images, and
// whether the file's content is secret. ok is false when NAME_FILE is not
// set or names no uploaded file.
func (reg *Registration) secretFile(name string) (value string, secret, ok bool) {
	env, _ := reg.env()
	path, set := env[name+"_FILE"]
	if !set {
		return "", false, false
	}
	return reg.upload(path)
}

// Cloudflare facts of the tests: a zone, the host's addresses and a token.
const (
	testZoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	testToken  = "test-cloudflare-token"
)

// withEdge adds a Cloudflare zone and token to a stack's config.
func withEdge(cfg map[string]any) map[string]any {
	cfg["edge"] = map[string]any{"zoneId": testZoneID, "addresses": []any{"203.0.113.10", "2001:db8::10"}}
	cfg["cloudflare:apiToken"] = secret(testToken)
	return cfg
}

// localConfig is the local stack's fixture: the reference backend, built.
func localConfig(t *testing.T) map[string]any {
	return fixtureConfig(t, "local")
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
