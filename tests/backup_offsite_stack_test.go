package tests

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// backupctl finds the off-host copy container in the stack's outputs, and
// `backupctl fetch` writes through it into the backups volume.
func TestTheOffsiteCopyIsFoundAndCanFetch(t *testing.T) {
	cfg := with(t, "production", "backup.offsite", map[string]any{"url": "s3://backups/django-stack", "accessKeyId": "AKIA"})
	cfg["offsiteSecretKey"] = secret("s3cret")
	r := deployOK(t, "production", cfg)
	containers := await(t, r.deployment.Outputs["containers"].(pulumi.StringMap).ToStringMapOutput()).Value.(map[string]string)
	if got := containers["backup-offsite"]; got != "django-stack-production-backup-offsite" {
		t.Errorf("containers[backup-offsite] = %q, want the off-host copy's container", got)
	}
	offsite := r.get(typeContainer, "backup-offsite")
	volumes := asSlice(offsite.input("volumes"))
	if len(volumes) != 1 || asMap(volumes[0])["containerPath"] != "/backups" || asMap(volumes[0])["readOnly"] == true {
		t.Errorf("the off-host copy mounts %v, want the backups volume read-write at /backups (fetch writes there)", volumes)
	}

	// Without the copy, no such container is named.
	containers = await(t, deployOK(t, "production", with(t, "production", "backup.offsite.url", "")).deployment.Outputs["containers"].(pulumi.StringMap).ToStringMapOutput()).Value.(map[string]string)
	if _, ok := containers["backup-offsite"]; ok {
		t.Errorf("containers names an off-host copy that does not run: %v", containers)
	}
}
