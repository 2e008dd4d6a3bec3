package tests

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

var update = flag.Bool("update", false, "rewrite the golden snapshots in testdata/ from what the program registers now")

// snapshotEntry is one resource in a golden snapshot.
type snapshotEntry struct {
	Resource       string         `json:"resource"`
	Parent         string         `json:"parent,omitempty"`
	Protect        bool           `json:"protect,omitempty"`
	RetainOnDelete bool           `json:"retainOnDelete,omitempty"`
	DependsOn      []string       `json:"dependsOn,omitempty"`
	Inputs         map[string]any `json:"inputs,omitempty"`
}

func (r *run) snapshot() []byte {
	short := func(u resource.URN) string {
		if u == "" || u.QualifiedType() == typeStack {
			return ""
		}
		return string(u.QualifiedType()) + "::" + u.Name()
	}
	var entries []snapshotEntry
	for _, reg := range r.rec.regs {
		e := snapshotEntry{
			Resource:       short(reg.URN),
			Parent:         short(reg.Parent),
			Protect:        reg.Protect,
			RetainOnDelete: reg.RetainOnDelete,
		}
		for _, d := range reg.DependsOn {
			e.DependsOn = append(e.DependsOn, short(d))
		}
		sort.Strings(e.DependsOn)
		if len(reg.Inputs) > 0 {
			e.Inputs = plain(resource.NewObjectProperty(reg.Inputs), false).(map[string]any)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Resource < entries[j].Resource })
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil {
		r.t.Fatal(err)
	}
	// The digests in the backend's names follow from the spec the snapshot
	// shows; for the local stack they also follow every file of the
	// reference backend. They are tested on their own (rollout_test.go), and
	// left out here so that editing the example does not churn the snapshot.
	out := b.String()
	if b := r.deployment.Backend; b != nil {
		out = strings.ReplaceAll(out, b.Fingerprint, "SPECDIGEST")
		if _, key, ok := strings.Cut(b.Migration, "-migrate-"); ok {
			out = strings.ReplaceAll(out, key, "MIGRATIONDIGEST")
		}
		for role, units := range b.Roles {
			out = strings.ReplaceAll(out, units.Spec.Fingerprint(), strings.ToUpper(role)+"DIGEST")
		}
	}
	return []byte(out)
}

// TestGoldenSnapshots compares each stack's whole resource graph with the
// snapshot in testdata/: a pull request that changes what a stack deploys
// shows it in the diff of these files. Each stack is deployed from its
// fixture in testdata/stacks, never from the shipped Pulumi.<stack>.yaml, so
// a team's real facts there move no snapshot. Run `go test ./tests -run Golden
// -update` to accept a change.
func TestGoldenSnapshots(t *testing.T) {
	for snapshot, cfg := range map[string]map[string]any{
		"production":       withEdge(fixtureConfig(t, "production")),
		"staging":          withEdge(fixtureConfig(t, "staging")),
		"local":            localConfig(t),
		"production-swarm": withEdge(swarmConfig(t)),
	} {
		stack, _, _ := strings.Cut(snapshot, "-")
		t.Run(snapshot, func(t *testing.T) {
			got := deployOK(t, stack, cfg).snapshot()
			if strings.Contains(string(got), "mock-secrets") || strings.Contains(string(got), testToken) {
				t.Fatalf("a generated secret reached the snapshot unredacted")
			}
			path := filepath.Join("testdata", snapshot+".golden.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("stack %s no longer matches %s; if the change is intended, run `go test ./tests -run Golden -update` and review the diff.\n%s", stack, path, firstDifference(string(want), string(got)))
			}
		})
	}
}

// firstDifference shows the first differing line of two texts.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}
