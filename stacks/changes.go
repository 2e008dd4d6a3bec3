package stacks

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/stacks/engine"
	"github.com/djangostack/infra/stacks/outputs"
	"github.com/djangostack/infra/stacks/stackname"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// What a deploy replaces is visible in `pulumi preview --diff`, but not what
// the replacement costs: a restarted database, a site down while Traefik
// starts again, a data volume recreated empty. To say so, every deploy
// exports the specs of its containers and the names of its data volumes, and
// the next one reads them back from the stack's last outputs and compares.

// Previous is what the last deployment of the stack recorded.
type Previous struct {
	Specs       map[string]runtime.Spec
	DataVolumes map[string]string
	// Jobs are how its one-shot jobs' last runs ended, even when that
	// update failed: the engine keeps a failed update's outputs.
	Jobs runtime.JobRuns
	// FingerprintKey is the key of the app secrets' fingerprint; nil when
	// the record holds none (a first deployment, or one made before it).
	FingerprintKey []byte
	// Engine is the Docker Engine it deployed to; unknown when it recorded
	// none.
	Engine engine.Version
	// BackendImage and PreviousBackendImage are the backend's image and
	// the one of the release before it ("" when none is recorded).
	BackendImage, PreviousBackendImage string
}

// noPrevious is the record of a stack that was never deployed: nothing to
// compare, and every job at its first attempt.
func noPrevious() Previous {
	return Previous{Specs: map[string]runtime.Spec{}, DataVolumes: map[string]string{}, Jobs: runtime.JobRuns{}}
}

// PreviousReader reads what the stack's last deployment recorded. A stack
// that was never deployed has no record: its reader returns noPrevious's
// empty one and no error.
type PreviousReader interface {
	ReadPrevious(ctx *pulumi.Context) (Previous, error)
}

// EngineOutputs is the PreviousReader a Program uses unless told
// otherwise: it reads the stack's own last outputs from the engine.
type EngineOutputs struct{}

// readStackOutputs is the engine's own function that reads a stack's
// outputs: what a StackReference reads, without the read resource, which
// `pulumi preview --diff` would print on every run.
const readStackOutputs = "pulumi:pulumi:readStackOutputs"

// A read of the stack's checkpoint can meet the update writing it: the file
// backend then fails it with "failed to load checkpoint: EOF" (seen on a
// real first `pulumi up`, where the engine writes the checkpoint as the
// program starts). Such a read is tried again, readAttempts times in all,
// readPause apart.
const (
	readAttempts = 5
	readPause    = 200 * time.Millisecond
)

// ReadPrevious reads the stack's own last outputs. A stack that was never
// deployed has none: nothing is compared, and every job runs its first
// attempt.
func (EngineOutputs) ReadPrevious(ctx *pulumi.Context) (Previous, error) {
	prev := noPrevious()
	var result struct {
		Outputs map[string]any `pulumi:"outputs"`
	}
	for attempt := 1; ; attempt++ {
		// Raw: the outputs hold secrets (databaseUrl), which are not read here.
		_, err := ctx.InvokePackageRaw(readStackOutputs, map[string]any{
			"name": fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack()),
		}, &result, "")
		if err == nil {
			break
		}
		if attempt == readAttempts || !strings.Contains(err.Error(), "failed to load checkpoint") {
			return prev, fmt.Errorf("reading the stack's last outputs: %w", err)
		}
		time.Sleep(readPause)
	}
	for component, spec := range asStringMaps(result.Outputs[outputs.Specs]) {
		prev.Specs[component] = runtime.Spec(spec)
	}
	if m, ok := result.Outputs[outputs.DataVolumes].(map[string]any); ok {
		for k, v := range m {
			prev.DataVolumes[k] = fmt.Sprint(v)
		}
	}
	prev.Jobs = jobRuns(result.Outputs[outputs.Jobs])
	prev.FingerprintKey = fingerprintKey(result.Outputs[outputs.FingerprintKey])
	prev.Engine = recordedEngine(result.Outputs[outputs.Engine])
	prev.BackendImage, _ = result.Outputs[outputs.BackendImage].(string)
	prev.PreviousBackendImage, _ = result.Outputs[outputs.PreviousBackendImage].(string)
	return prev, nil
}

// unreadPrevious is the note of a deployment that could not read the last
// one's record: what it could not check, and why.
func unreadPrevious(err error) string {
	return "could not read the last deployment's record, so this deployment goes on unchecked against it: the data volumes are not " +
		"compared (one under a new name would start empty), the jobs' last attempts are unknown (each step is registered as its " +
		"first attempt), the key of the app secrets' fingerprint is unknown (a new one is made: a backend with backendSecrets " +
		"gets new containers, as in a release), and no change is described: " + err.Error()
}

// previousImage is the image of the release before the one that runs
// image: the last deployment's image when this one changes it, else the
// image the last deployment recorded as its previous one. So a release
// that changes only the environment keeps what a rollback goes back to.
func previousImage(prev Previous, image string) string {
	if prev.BackendImage != "" && prev.BackendImage != image {
		return prev.BackendImage
	}
	return prev.PreviousBackendImage
}

// fingerprintKey reads the fingerprintKey output back: hex text of at
// least minFingerprintKey bytes, else none.
func fingerprintKey(v any) []byte {
	text, _ := v.(string)
	key, err := hex.DecodeString(text)
	if err != nil || len(key) < minFingerprintKey {
		return nil
	}
	return key
}

// jobRuns reads the jobs output back. An entry it cannot read (a stack
// deployed before the output existed has none) counts as a job that did not
// run: its first attempt.
func jobRuns(v any) runtime.JobRuns {
	runs := runtime.JobRuns{}
	for job, fields := range asStringMaps(v) {
		attempt, err1 := strconv.Atoi(fields["attempt"])
		code, err2 := strconv.Atoi(fields["exitCode"])
		if err1 == nil && err2 == nil {
			runs[job] = runtime.JobRun{Attempt: attempt, ExitCode: code}
		}
	}
	return runs
}

func asStringMaps(v any) map[string]map[string]string {
	out := map[string]map[string]string{}
	outer, _ := v.(map[string]any)
	for k, inner := range outer {
		m, _ := inner.(map[string]any)
		out[k] = map[string]string{}
		for field, value := range m {
			out[k][field] = fmt.Sprint(value)
		}
	}
	return out
}

// changeNotes describe, for each part whose spec changed since the last
// deployment, which of its fields changed and what the change costs.
func changeNotes(prev Previous, parts []runtime.Part, d *Deployment) []string {
	var notes []string
	for _, c := range parts {
		before, deployed := prev.Specs[c.Key]
		if !deployed {
			continue
		}
		// A part the stack no longer runs compares as an empty spec.
		changed := d.running[c.Key].spec.Changed(before)
		if len(changed) == 0 {
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: %s changed; %s", c.Key, strings.Join(changed, ", "), c.Cost(changed)))
	}
	return notes
}

// checkDataVolumes refuses, in production, a deploy that would put a data
// volume under a new name: the database or the uploads would start empty.
// allow lets one deliberate update through; elsewhere it is a warning.
func checkDataVolumes(stack string, prev Previous, dataVolumes map[string]string, allow bool) (errs, warnings problems.Problems) {
	for _, component := range slices.Sorted(maps.Keys(dataVolumes)) {
		before, deployed := prev.DataVolumes[component]
		now := dataVolumes[component]
		if !deployed || before == now {
			continue
		}
		key := "allowDataVolumeReplacement"
		msg := fmt.Sprintf("the %s data volume would change from %s to %s and start empty (a renamed project or stack does this); "+
			"back it up, then set %s: true for this one update", component, before, now, key)
		if stack == stackname.Production && !allow {
			errs.Add(key, "%s", msg)
		} else {
			warnings.Add(key, "%s", msg)
		}
	}
	return errs, warnings
}
