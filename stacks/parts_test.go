package stacks

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/backup"
	"github.com/djangostack/infra/components/runtime"
)

var containerSettings = reflect.TypeOf(runtime.ContainerSettings{})

// Every setting of the profile that describes a container is a part of the
// table, with that setting's container settings and image: a component
// added to Profile and forgotten in parts() fails here.
func TestEveryContainerOfTheProfileIsAPart(t *testing.T) {
	p := Base()
	parts := map[string]runtime.Part{}
	for _, c := range p.parts(nil) {
		parts[c.ConfigKey()] = c
	}
	seen := 0
	// check walks the settings under key: each struct with container
	// settings of its own is a part, at its config key.
	var check func(key string, v reflect.Value)
	check = func(key string, v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			field := v.Type().Field(i)
			if field.Type.Kind() != reflect.Struct || field.Anonymous {
				continue
			}
			name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
			sub := strings.TrimPrefix(key+"."+name, ".")
			if embedded, ok := field.Type.FieldByName("ContainerSettings"); !ok || embedded.Type != containerSettings {
				continue
			}
			check(sub, v.Field(i))
			seen++
			c, found := parts[sub]
			if !found {
				t.Errorf("%s runs a container but is no part of the table (parts.go)", sub)
				continue
			}
			if !reflect.DeepEqual(c.Settings, v.Field(i).FieldByName("ContainerSettings").Interface()) {
				t.Errorf("part %s has other container settings than %s", c.Key, sub)
			}
			if image := v.Field(i).FieldByName("Image"); image.IsValid() && image.String() != c.Image {
				t.Errorf("part %s has image %q, %s.image is %q", c.Key, c.Image, sub, image.String())
			}
		}
	}
	check("", reflect.ValueOf(p))
	if seen != len(parts) {
		t.Errorf("the profile has %d container settings, the table %d parts", seen, len(parts))
	}
}

// The host holds the backend's replicas, and the backup with its off-host
// copy; backups that are off are checked but not sized.
func TestPartsCountWhatRuns(t *testing.T) {
	p := Base()
	p.Backend.Replicas = 3
	p.Backup.Offsite.URL = "s3://bucket/prefix"
	counts := map[string]int{}
	for _, c := range p.sized() {
		counts[c.Key] = c.Count
	}
	if counts["backend"] != 3 || counts[backup.Key] != 2 || counts["postgres"] != 1 {
		t.Errorf("counts %v", counts)
	}
	p.Backup.Enabled = false
	if slices.ContainsFunc(p.sized(), func(c runtime.Part) bool { return c.Key == backup.Key }) {
		t.Errorf("backups off, yet the backup is sized")
	}
	if len(p.parts(nil)) != len(p.sized())+1 {
		t.Errorf("backups off must still be checked")
	}
}

func TestChangeNotesSayWhatAChangeCosts(t *testing.T) {
	p := Base()
	d := &Deployment{}
	d.record("postgres", runtime.Spec{"image": "postgres:16", "flags": "b"}, "app-postgres")
	d.record("redis", runtime.Spec{"image": "redis:7"}, "app-redis")
	backend := runtime.Spec{"image": "app:2", "env": "x"}
	d.record("backend", backend, "app-backend-1")
	d.record("nginx", runtime.Spec{"image": "nginx:1"}, "app-nginx")
	prev := Previous{Specs: map[string]runtime.Spec{
		"postgres": {"image": "postgres:16", "flags": "a"},
		"redis":    {"image": "redis:7"},
		"backend":  {"image": "app:1", "env": "x"},
		// traefik and backup were never deployed: nothing to compare.
	}}
	notes := changeNotes(prev, p.parts(map[string]string{"postgres": "app-postgres-data"}), d)
	if len(notes) != 2 {
		t.Fatalf("notes %q: want postgres and backend only", notes)
	}
	if !strings.HasPrefix(notes[0], "postgres: flags changed; ") || !strings.Contains(notes[0], "the data volume app-postgres-data is kept") {
		t.Errorf("postgres note %q", notes[0])
	}
	if !strings.HasPrefix(notes[1], "backend: image changed; ") || !strings.Contains(notes[1], "the new image runs its migrations first") {
		t.Errorf("backend note %q", notes[1])
	}
	backend["image"], backend["env"] = "app:1", "y"
	if notes := changeNotes(prev, p.parts(nil), d); len(notes) != 2 || strings.Contains(notes[1], "migrations") {
		t.Errorf("an env change runs no migrations: %q", notes)
	}
}
