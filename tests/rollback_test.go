package tests

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// images are the backendImage and previousBackendImage outputs of a run.
func images(t *testing.T, r *run) (current, previous string) {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	current, _ = await(t, pulumi.ToOutput(r.deployment.Outputs["backendImage"])).Value.(string)
	previous, _ = await(t, pulumi.ToOutput(r.deployment.Outputs["previousBackendImage"])).Value.(string)
	return current, previous
}

// The stack records the image of the release before the current one, which
// stackctl rollback deploys: a release of a new image moves the current one
// there; a release that keeps the image (an environment change) keeps it;
// a rollback makes the newer image the previous one, so a second rollback
// undoes the first.
func TestTheStackRecordsThePreviousReleasesImage(t *testing.T) {
	const (
		v1 = "registry.example.com/django-app:1.0.0"
		v2 = "registry.example.com/django-app:1.0.1"
		// v1 by its digest, as a real pull records it (the mock's digests
		// are not valid ones).
		v1Digest = "registry.example.com/django-app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	digest := func(ref string) string { return ref + "@sha256:backend-image" }
	steps := []struct {
		what           string
		image          string
		env            string
		current, prior string
	}{
		{"first deploy", v1, "", digest(v1), ""},
		{"an environment change", v1, "2", digest(v1), ""},
		{"a new image", v2, "2", digest(v2), digest(v1)},
		{"an environment change after it", v2, "3", digest(v2), digest(v1)},
		{"a rollback, by digest", v1Digest, "3", digest(v1Digest), digest(v2)},
		{"a second rollback", v2, "3", digest(v2), digest(v1Digest)},
	}
	var last *run
	for _, s := range steps {
		config := with(t, "production", "backend.image", s.image)
		if s.env != "" {
			config = setPath(config, "backend.env.RELEASE", s.env)
		}
		if last == nil {
			last = deploy(t, "production", config)
		} else {
			last = deployAfter(t, last, config)
		}
		current, previous := images(t, last)
		if current != s.current || previous != s.prior {
			t.Errorf("%s: backendImage %q, previousBackendImage %q; want %q, %q", s.what, current, previous, s.current, s.prior)
		}
	}
}

// A local build records the built image's id, which the host finds again
// by itself.
func TestALocalBuildRecordsItsImageID(t *testing.T) {
	current, previous := images(t, deploy(t, "local", fixtureConfig(t, "local")))
	if current != "sha256:built-backend-build" || previous != "" {
		t.Errorf("backendImage %q, previousBackendImage %q; want the built id and none", current, previous)
	}
}
