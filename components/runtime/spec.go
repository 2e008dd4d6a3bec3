package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Spec is the plain description of a container: every value that goes into
// it and is known before deployment, field by field. Two runs of the program
// with the same config give the same Spec; a Spec that changed says what a
// deploy will replace, and its Fingerprint names the backend's containers.
type Spec map[string]string

// Describe renders a workload's Spec. Values that flow from other resources
// (image id, network and volume names) are described by what determines
// them: the image reference, the mount targets. Secret values are never
// described, only that they are there.
func (w Workload) Describe() Spec {
	w = w.secretsAsFiles()
	s := w.Settings
	var env []string
	for _, k := range slices.Sorted(maps.Keys(w.Env)) {
		env = append(env, k+"="+w.Env[k])
	}
	var files, volumes, ports, labels []string
	for _, f := range w.Files {
		content := "(secret)"
		if plain, ok := f.Content.(pulumi.String); ok {
			content = digest(string(plain))
		}
		files = append(files, fmt.Sprintf("%s %s %s", f.Path, f.Mode, content))
	}
	for _, v := range w.Volumes {
		volumes = append(volumes, fmt.Sprintf("%s%s ro=%v", v.HostPath, v.Target, v.ReadOnly))
	}
	for _, p := range w.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d->%d", p.IP, p.External, p.Internal))
	}
	for _, k := range slices.Sorted(maps.Keys(w.Labels)) {
		labels = append(labels, k+"="+w.Labels[k])
	}
	h := s.Healthcheck
	return Spec{
		"image":       w.ImageSource,
		"entrypoint":  strings.Join(append(slices.Clone(w.Entrypoint), w.ImageEntrypoint...), " "),
		"command":     strings.Join(w.Command, " "),
		"env":         strings.Join(env, "\n"),
		"secrets":     w.SecretsRevision,
		"files":       strings.Join(files, "\n"),
		"volumes":     strings.Join(volumes, "\n"),
		"ports":       strings.Join(ports, "\n"),
		"labels":      strings.Join(labels, "\n"),
		"healthcheck": h.describe(w.HealthTest),
		"resources": fmt.Sprintf("limits %s CPU %s, reservations %s CPU %s",
			s.Resources.Limits.CPUs, s.Resources.Limits.Memory, s.Resources.Reservations.CPUs, s.Resources.Reservations.Memory),
		"restart":     fmt.Sprintf("%s max %d", s.Restart.Condition, s.Restart.MaxAttempts),
		"logs":        fmt.Sprintf("%s %s x %d", s.Logs.Driver, s.Logs.MaxSize, s.Logs.MaxFiles),
		"stopTimeout": s.StopTimeout.String(),
		"shmSize":     w.ShmSize.String(),
		"nofile":      fmt.Sprint(w.NoFile),
		"lockdown":    w.Privileges.String(),
	}
}

// describe is a healthcheck in a Spec. A start interval is named only when
// set, so that the spec of a container without one reads as it always has.
func (h Healthcheck) describe(test []string) string {
	text := fmt.Sprintf("%q every %s, timeout %s, %d retries, start %s", test, h.Interval, h.Timeout, h.Retries, h.StartPeriod)
	if h.StartInterval != 0 {
		text += fmt.Sprintf(" probed every %s", h.StartInterval)
	}
	return text
}

// Fingerprint is a short digest of the whole Spec.
func (s Spec) Fingerprint() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s=%q\n", k, s[k])
	}
	return digest(b.String())[:10]
}

// Changed lists the fields whose values differ from before, in order.
func (s Spec) Changed(before Spec) []string {
	var changed []string
	for _, k := range slices.Sorted(maps.Keys(MergeMaps(s, before))) {
		if s[k] != before[k] {
			changed = append(changed, k)
		}
	}
	return changed
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ContextDigest hashes a Docker build context: every file's path and
// content, in order. A local build changes its digest exactly when a file of
// its context changes, which is what the backend's names follow.
func ContextDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" || d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(content))
		h.Write(content)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
