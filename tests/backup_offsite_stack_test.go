package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// backupctl finds the off-host copy container in the stack's outputs, and
// `backupctl fetch` writes through it into the backups volume.
func TestTheOffsiteCopyIsFoundAndCanFetch(t *testing.T) {
	cfg := with(t, "production", "backup.offsite", map[string]any{"url": "s3://backups/django-stack", "accessKeyId": "AKIA"})
	cfg["offsiteSecretKey"] = secret("s3cret")
	r := deployOK(t, "production", cfg)
	// AWS S3 itself keeps the aws command's default checksums.
	if env, _ := r.get(typeContainer, "backup-offsite").env(); env["AWS_REQUEST_CHECKSUM_CALCULATION"] != "" {
		t.Errorf("AWS_REQUEST_CHECKSUM_CALCULATION = %q for AWS S3", env["AWS_REQUEST_CHECKSUM_CALCULATION"])
	}
	containers := await(t, r.deployment.Outputs["containers"].(pulumi.StringMap).ToStringMapOutput()).Value.(map[string]string)
	if got := containers["backup-offsite"]; got != "django-stack-production-backup-offsite" {
		t.Errorf("containers[backup-offsite] = %q, want the off-host copy's container", got)
	}
	offsite := r.get(typeContainer, "backup-offsite")
	var volumes []any
	for _, v := range asSlice(offsite.input("volumes")) {
		if !strings.Contains(fmt.Sprint(asMap(v)["volumeName"]), "-files-") { // its own files, read-only
			volumes = append(volumes, v)
		}
	}
	if len(volumes) != 1 || asMap(volumes[0])["containerPath"] != "/backups" || asMap(volumes[0])["readOnly"] == true {
		t.Errorf("the off-host copy mounts %v, want the backups volume read-write at /backups (fetch writes there)", volumes)
	}

	// Without the copy, no such container is named.
	containers = await(t, deployOK(t, "production", with(t, "production", "backup.offsite.url", "")).deployment.Outputs["containers"].(pulumi.StringMap).ToStringMapOutput()).Value.(map[string]string)
	if _, ok := containers["backup-offsite"]; ok {
		t.Errorf("containers names an off-host copy that does not run: %v", containers)
	}
}

// backup.offsite.caCertificates: a store behind a private CA. The copy gets
// the roots as a file and the aws command's AWS_CA_BUNDLE names it; unset,
// nothing of it is rendered.
func TestTheOffsiteCopyTrustsAPrivateCA(t *testing.T) {
	const bundle = "/opt/backup/offsite-ca.pem"
	store := map[string]any{"url": "s3://backups/django-stack", "accessKeyId": "AKIA", "endpoint": "https://s3.internal.example"}
	cfg := with(t, "production", "backup.offsite", store)
	cfg["offsiteSecretKey"] = secret("s3cret")
	offsite := deployOK(t, "production", cfg).get(typeContainer, "backup-offsite")
	env, _ := offsite.env()
	if env["AWS_CA_BUNDLE"] != "" {
		t.Errorf("AWS_CA_BUNDLE = %q with no private CA set", env["AWS_CA_BUNDLE"])
	}
	// A store of one's own gets uploads with a Content-Length (aws 2.23+
	// sends aws-chunked bodies, which such stores often refuse).
	for _, k := range []string{"AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"} {
		if env[k] != "when_required" {
			t.Errorf("%s = %q for an S3-compatible endpoint, want when_required", k, env[k])
		}
	}
	if _, _, ok := offsite.upload(bundle); ok {
		t.Errorf("the copy gets %s with no private CA set", bundle)
	}

	cfg = setPath(cfg, "backup.offsite.caCertificates", strings.TrimSuffix(testCA.root, "\n"))
	r := deployOK(t, "production", cfg)
	offsite = r.get(typeContainer, "backup-offsite")
	if env, _ := offsite.env(); env["AWS_CA_BUNDLE"] != bundle {
		t.Errorf("AWS_CA_BUNDLE = %q, want %s", env["AWS_CA_BUNDLE"], bundle)
	}
	if content, secret, ok := offsite.upload(bundle); !ok || secret || content != testCA.root {
		t.Errorf("the copy gets %s: %v (secret %v):\n%s\nwant the roots, with one last line break", bundle, ok, secret, content)
	}
	// The backup container itself talks to no store.
	if _, _, ok := r.get(typeContainer, "backup").upload(bundle); ok {
		t.Errorf("the backup container gets %s", bundle)
	}
}
