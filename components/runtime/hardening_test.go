package runtime

import (
	"slices"
	"strings"
	"testing"
)

func TestPrivilegesCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Privileges
		keys []string
	}{
		{"none", Privileges{}, nil},
		{"the reference backend's", Privileges{Capabilities: []string{"CHOWN", "setuid", "CAP_SETGID"}, Writable: []string{"/app/logs"}}, nil},
		{"a user by id", Privileges{User: "10001:10001"}, nil},
		{"an unknown capability", Privileges{Capabilities: []string{"NET_BIND"}}, []string{"capabilities"}},
		{"a relative directory", Privileges{Writable: []string{"app/logs"}}, []string{"writable"}},
		{"an unclean directory", Privileges{Writable: []string{"/app/../logs"}}, []string{"writable"}},
		{"the root", Privileges{Writable: []string{"/"}}, []string{"writable"}},
		{"a user with a space", Privileges{User: "www data"}, []string{"user"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			for _, p := range tc.p.Check() {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("problems at %v, want %v: %v", keys, tc.keys, tc.p.Check())
			}
		})
	}
}

// Docker reads capabilities back CAP_-prefixed, upper case: the program
// renders them so, sorted and once each, or every preview shows a change.
func TestCapabilitiesAsDockerReadsThemBack(t *testing.T) {
	got := Privileges{Capabilities: []string{"setuid", "CAP_CHOWN", "SETUID", "NET_BIND_SERVICE"}}.capabilities()
	if want := []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID"}; !slices.Equal(got, want) {
		t.Errorf("capabilities %v, want %v", got, want)
	}
}

func TestEveryWorkloadWritesTmp(t *testing.T) {
	got := Privileges{Writable: []string{"/var/run", "/tmp", "/var/cache/nginx"}}.tmpfs()
	if len(got) != 3 || got["/tmp"] != tmpfsOptions || got["/var/run"] != tmpfsOptions || got["/var/cache/nginx"] != tmpfsOptions {
		t.Errorf("tmpfs %v, want /tmp, /var/cache/nginx and /var/run, %s", got, tmpfsOptions)
	}
	if !strings.Contains(tmpfsOptions, "noexec") || !strings.Contains(tmpfsOptions, "nosuid") {
		t.Errorf("tmpfs options %q run files or honour setuid", tmpfsOptions)
	}
}

func TestFileVolumesOnePerDirectory(t *testing.T) {
	w := Workload{Name: "app-traefik", Files: []File{
		{Path: "/etc/traefik/traefik.yml"}, {Path: "/run/secrets/cf_dns_api_token"}, {Path: "/etc/traefik/dynamic.yml"},
	}}
	if got, want := w.fileDirs(), []string{"/etc/traefik", "/run/secrets"}; !slices.Equal(got, want) {
		t.Errorf("file directories %v, want %v", got, want)
	}
	if got := fileVolumeName(w.Name, "/run/secrets"); got != "app-traefik-files-run-secrets" {
		t.Errorf("volume name %q", got)
	}
}

// A changed lockdown changes the Spec, so the backend's containers get new
// names and are released like any change.
func TestTheLockdownIsInTheSpec(t *testing.T) {
	a := Workload{Privileges: Privileges{Capabilities: []string{"CHOWN"}}}.Describe()
	b := Workload{Privileges: Privileges{Capabilities: []string{"CHOWN", "SETUID"}}}.Describe()
	if got := b.Changed(a); !slices.Equal(got, []string{"lockdown"}) {
		t.Errorf("changed %v, want lockdown", got)
	}
}
