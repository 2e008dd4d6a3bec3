package nginx

import (
	"strings"
	"testing"
)

// TestNginxLayoutIsOnlyPaths: a tree renders the same directives as the
// container, only with other paths, so what a real nginx is checked against
// (tests/servers_nginx_test.go) is what ships.
func TestNginxLayoutIsOnlyPaths(t *testing.T) {
	s := DefaultSettings()
	container := ContainerLayout()
	tree := TreeLayout("/tmp/tree")
	tree.Listen, tree.MimeTypes = 18080, "/usr/share/nginx/mime.types"
	inContainer := strings.Split(RenderConf(s, container), "\n")
	inTree := strings.Split(RenderConf(s, tree), "\n")
	// Both have temporary file paths, one directive for each kind of
	// temporary file, the tree's all under its root.
	var rest []string
	temps := 0
	for _, line := range inTree {
		if strings.HasSuffix(strings.Fields(line + " _")[0], "_temp_path") {
			temps++
			if !strings.Contains(line, " /tmp/tree/temp/") {
				t.Errorf("a temporary path outside the tree: %q", line)
			}
		}
		rest = append(rest, line)
	}
	if temps != 5 {
		t.Errorf("the tree renders %d temporary paths, want 5", temps)
	}
	// The container's user line is the one more line it has.
	if len(rest) != len(inContainer)-1 {
		t.Fatalf("the tree renders %d lines besides its temporary paths, the container %d", len(rest), len(inContainer))
	}
	paths := strings.NewReplacer(
		container.StaticDir, tree.StaticDir, container.MediaDir, tree.MediaDir,
		container.MimeTypes, tree.MimeTypes, container.pidFile, tree.pidFile,
		container.ErrorLog, tree.ErrorLog, container.AccessLog, tree.AccessLog,
		container.tempDir+"/", tree.tempDir+"/",
		"listen 80 ", "listen 18080 ",
	)
	i := 0
	for _, line := range inContainer {
		if strings.HasPrefix(line, "user ") {
			continue
		}
		if want := paths.Replace(line); rest[i] != want {
			t.Errorf("line %d differs in more than its paths:\n container %q\n tree      %q", i+1, line, rest[i])
		}
		i++
	}
}
