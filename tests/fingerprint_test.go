package tests

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// fingerprintKeyOf is the fingerprintKey output of a run: it must be
// secret.
func fingerprintKeyOf(t *testing.T, r *run) string {
	t.Helper()
	out := await(t, pulumi.ToOutput(r.deployment.Outputs["fingerprintKey"]))
	key, _ := out.Value.(string)
	if !out.Known || !out.Secret {
		t.Fatalf("fingerprintKey output: known %v, secret %v", out.Known, out.Secret)
	}
	if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
		t.Fatalf("fingerprintKey %q is not 32 bytes in hex (%v)", key, err)
	}
	return key
}

// The backend's names carry a fingerprint of the app's own secrets, in
// plain text (the names, the specs output). It is keyed with a secret the
// stack generates once and keeps as a secret output: the next deployment
// reads it back and keeps the names; two stacks with the same secrets get
// different fingerprints; a deployment that cannot read its last record
// makes a new key and says so.
func TestTheAppSecretsFingerprintIsKeyed(t *testing.T) {
	config := func() map[string]any {
		return withAppSecrets(fixtureConfig(t, "production"), map[string]string{"SENTRY_DSN": sentryDSN})
	}
	first := deployOK(t, "production", config())
	key := fingerprintKeyOf(t, first)

	// The next deployment: the same key, the same names.
	next := deployAfter(t, first, config())
	if next.err != nil {
		t.Fatal(next.err)
	}
	if got := fingerprintKeyOf(t, next); got != key {
		t.Errorf("the next deployment changed the key")
	}
	if !slices.Equal(replicaNames(first), replicaNames(next)) {
		t.Errorf("the next deployment renamed the backends: %v -> %v", replicaNames(first), replicaNames(next))
	}

	// Another first deployment with the same secrets: another key, other
	// names (the fingerprint is no function of the secrets alone).
	other := deployOK(t, "production", config())
	if fingerprintKeyOf(t, other) == key {
		t.Errorf("two first deployments made the same key")
	}
	if slices.Equal(replicaNames(first), replicaNames(other)) {
		t.Errorf("two keys, the same names %v: the fingerprint is not keyed", replicaNames(first))
	}

	// The key is nowhere in plain text: not in a name, a spec, a label.
	for _, c := range first.all(typeContainer) {
		if strings.Contains(c.Name, key[:12]) || strings.Contains(toJSON(c.Inputs.Mappable()), key) {
			t.Errorf("%s carries the key", c.Name)
		}
	}

	// A record that cannot be read: a new key, the deployment goes on, and
	// the warning says what that costs.
	unread := deployReading(t, newRecorder("production"), failingReader{errors.New("the backend is unreachable")}, config())
	if unread.err != nil {
		t.Fatalf("a failed read stopped the deployment: %v", unread.err)
	}
	if fingerprintKeyOf(t, unread) == key {
		t.Errorf("a deployment that could not read the key has it")
	}
	if !slices.ContainsFunc(unread.logged, func(n string) bool {
		return strings.Contains(n, "the key of the app secrets' fingerprint is unknown") && strings.Contains(n, "the backend is unreachable")
	}) {
		t.Errorf("no warning says the key is new: %q", unread.logged)
	}

	// A stack without app secrets has a key too, and its names do not
	// depend on it.
	plain := deployOK(t, "production", fixtureConfig(t, "production"))
	plainAgain := deployOK(t, "production", fixtureConfig(t, "production"))
	fingerprintKeyOf(t, plain)
	if !slices.Equal(replicaNames(plain), replicaNames(plainAgain)) {
		t.Errorf("without app secrets the names depend on the key: %v, %v", replicaNames(plain), replicaNames(plainAgain))
	}
}
