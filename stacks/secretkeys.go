package stacks

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A key set with `pulumi config set --secret` is encrypted in the stack's
// file, and the engine tells the program which keys hold one; within an
// object (`--secret --path backend.env.TOKEN`) it marks the whole top-level
// key. The program reads its settings as plain values: into containers'
// environments and labels, the specs output, the preview and the messages.
// So a setting that holds a secret is refused, with its key and never its
// value; the secrets the program reads as such are the credentials
// (KnownKeys' registryPassword, offsiteSecretKey, backendSecrets, and the
// providers' own keys such as cloudflare:apiToken).

// refuseSecretSettings reports each setting of the project's namespace that
// holds a value set with --secret, and returns those keys: they are not
// read. Where the stack's file shows which values inside a key are secret,
// the message names them too.
func refuseSecretSettings(r *reader, s Stack, cfg Config) map[string]bool {
	refused := map[string]bool{}
	for _, key := range ConfigKeys() {
		if !cfg.IsConfigSecret(s.Project + ":" + key) {
			continue
		}
		refused[key] = true
		paths := securePaths(s, key)
		where, move := "", fmt.Sprintf("pulumi config set --secret --path '%s.NAME' <value>", BackendSecretsKey)
		if len(paths) > 0 {
			where = " (" + strings.Join(paths, ", ") + ")"
			if name, ok := strings.CutPrefix(paths[0], "backend.env."); ok && !strings.ContainsAny(name, ".[") {
				move = fmt.Sprintf("pulumi config rm --path '%s' && pulumi config set --secret --path '%s.%s' <value>", paths[0], BackendSecretsKey, name)
			}
		}
		r.fail(key, "holds a value set with --secret%s, and the program reads %s as settings, in plain text (the containers' environment, the specs output, the preview, messages): "+
			"an app secret goes in %s, which reaches the backend as a file (%s); set the other values of %s without --secret", where, key, BackendSecretsKey, move, key)
	}
	return refused
}

// securePaths are the keys of the values inside a top-level key that the
// stack's file, Pulumi.<stack>.yaml in the project's directory, holds
// encrypted ({secure: …}), sorted; none when the file cannot tell.
func securePaths(s Stack, key string) []string {
	b, err := os.ReadFile(filepath.Join(s.Root, "Pulumi."+s.Name+".yaml"))
	if err != nil {
		return nil
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if yaml.Unmarshal(b, &file) != nil {
		return nil
	}
	var paths []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, secure := x["secure"]; secure && len(x) == 1 {
				paths = append(paths, path)
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk(key, file.Config[s.Project+":"+key])
	return paths
}
