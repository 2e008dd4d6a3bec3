package tests

// The nginx.conf the program renders, run by a real nginx: `nginx -t`
// accepts it, and served from a temporary tree it shows the guide's
// behaviour over HTTP.

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/djangostack/infra/components/nginx"
)

// nginxTree is a temporary tree nginx serves: static and media files, its
// temporary directories, pid file and logs.
type nginxTree struct {
	root   string
	layout nginx.Layout
	// css is /static/app.css; media is /media/upload.bin.
	css, media []byte
}

func newNginxTree(t *testing.T, bin string) *nginxTree {
	t.Helper()
	root := serverDir(t, "nginx")
	tree := &nginxTree{root: root}
	// Enough CSS to be worth compressing (gzip_min_length is 20 bytes).
	tree.css = []byte(strings.Repeat(".button { color: #333; background: #fafafa; margin: 0 auto; }\n", 64))
	tree.media = make([]byte, 64<<10)
	if _, err := rand.Read(tree.media); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"static/app.css":   tree.css,
		"media/upload.bin": tree.media,
	}
	for _, dir := range []string{"static", "media", "temp", "logs"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree.layout = nginx.TreeLayout(root)
	tree.layout.Listen = freePort(t)
	tree.layout.MimeTypes = nginxMimeTypes(t, bin)
	// A master running as root hands the requests to workers running as the
	// layout's user, as in the container (whose user is nginx).
	if os.Geteuid() == 0 {
		tree.layout.User = nginxWorkerUser(t)
	}
	return tree
}

// nginxMimeTypes is the mime.types that comes with the nginx binary, next to
// its default nginx.conf (/etc/nginx/mime.types for Debian's package).
func nginxMimeTypes(t *testing.T, bin string) string {
	t.Helper()
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	if m := regexp.MustCompile(`--conf-path=(\S+)`).FindSubmatch(out); m != nil {
		path := filepath.Join(filepath.Dir(string(m[1])), "mime.types")
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	path := "/etc/nginx/mime.types"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no mime.types for %s: %v (it comes with Debian's nginx package)", bin, err)
	}
	return path
}

// nginxWorkerUser is the user directive for nginx's workers when the tests
// run as root: the account unprivilegedUser picks (Debian's www-data, else
// nobody) and its own group, named because nginx would otherwise take the
// group of the user's name, which nobody's is not on Debian (nogroup).
func nginxWorkerUser(t *testing.T) string {
	t.Helper()
	u := unprivilegedUser(t, "www-data")
	if u == nil {
		return ""
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(u.gid), 10))
	if err != nil {
		t.Fatalf("the group of %s: %v", u.name, err)
	}
	return u.name + " " + g.Name
}

// write puts a rendered nginx.conf into the tree and returns its path.
func (tree *nginxTree) write(t *testing.T, conf string) string {
	t.Helper()
	path := filepath.Join(tree.root, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// nginxTest runs `nginx -t` on a configuration file. A warning fails it too:
// nginx starts with one, but each names a directive it ignores or doubts.
func nginxTest(bin, conf, errorLog string) error {
	out, err := exec.Command(bin, "-t", "-c", conf, "-e", errorLog).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t: %v:\n%s", err, out)
	}
	if bytes.Contains(out, []byte("[warn]")) || bytes.Contains(out, []byte("[emerg]")) {
		return fmt.Errorf("nginx -t warns:\n%s", out)
	}
	return nil
}

// startNginx runs nginx in the foreground on a configuration file and waits
// until it accepts connections.
func startNginx(t *testing.T, bin, conf string, tree *nginxTree) error {
	t.Helper()
	cmd := exec.Command(bin, "-c", conf, "-e", tree.layout.ErrorLog, "-g", "daemon off;")
	srv, err := startServer(t, "nginx", cmd, syscall.SIGTERM)
	if err != nil {
		return err
	}
	if err := srv.waitListening(fmt.Sprintf("127.0.0.1:%d", tree.layout.Listen), 10*time.Second); err != nil {
		log, _ := os.ReadFile(tree.layout.ErrorLog)
		return fmt.Errorf("%w\nerror log:\n%s", err, log)
	}
	return nil
}

// nginxClient sends requests exactly as written: no transparent gzip, no
// connection reuse between checks, and a body only after 100 Continue.
func nginxClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableCompression:    true,
			DisableKeepAlives:     true,
			ExpectContinueTimeout: 2 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkNginxServes requests the tree through nginx and reports every way the
// responses differ from what the settings promise.
func checkNginxServes(base string, s nginx.Settings, tree *nginxTree) error {
	client := nginxClient()
	var problems []error
	fail := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	get := func(path string, header map[string]string) (*http.Response, []byte, bool) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			fail("GET %s: %v", path, err)
			return nil, nil, false
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			fail("GET %s: %v", path, err)
			return nil, nil, false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			fail("GET %s: reading the body: %v", path, err)
			return nil, nil, false
		}
		return resp, body, true
	}
	// caching checks the expires and Cache-Control pair of a location.
	caching := func(path string, resp *http.Response, c nginx.FileCaching) {
		maxAge := "max-age=" + strconv.FormatInt(c.Expires.Seconds(), 10)
		cc := resp.Header.Values("Cache-Control")
		for _, want := range []string{maxAge, c.CacheControl} {
			if !slices.Contains(cc, want) {
				fail("GET %s: Cache-Control %q, want %q among them", path, cc, want)
			}
		}
		date, err1 := http.ParseTime(resp.Header.Get("Date"))
		expires, err2 := http.ParseTime(resp.Header.Get("Expires"))
		if err1 != nil || err2 != nil {
			fail("GET %s: Date %q, Expires %q: want both, as HTTP dates", path, resp.Header.Get("Date"), resp.Header.Get("Expires"))
		} else if got, want := expires.Sub(date), time.Duration(c.Expires); got < want-2*time.Second || got > want+2*time.Second {
			fail("GET %s: Expires is %s after Date, want %s (%s)", path, got, want, c.Expires)
		}
	}

	// /static/: the file, cached for the static expiry.
	if resp, body, ok := get("/static/app.css", nil); ok {
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, tree.css) {
			fail("GET /static/app.css: %s with %d bytes, want 200 with the file's %d", resp.Status, len(body), len(tree.css))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/css" {
			fail("GET /static/app.css: Content-Type %q, want text/css (from mime.types)", ct)
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			fail("GET /static/app.css without Accept-Encoding: Content-Encoding %q, want none", ce)
		}
		caching("/static/app.css", resp, s.Static)
	}
	// gzip for text/css when the client asks, if the settings compress it.
	if resp, body, ok := get("/static/app.css", map[string]string{"Accept-Encoding": "gzip"}); ok {
		wantGzip := s.Gzip.Enabled && slices.Contains(s.Gzip.Types, "text/css")
		ce := resp.Header.Get("Content-Encoding")
		switch {
		case wantGzip && ce != "gzip":
			fail("GET /static/app.css with Accept-Encoding: gzip: Content-Encoding %q, want gzip", ce)
		case !wantGzip && ce != "":
			fail("GET /static/app.css with Accept-Encoding: gzip: Content-Encoding %q, want none (gzip is off for text/css)", ce)
		case ce == "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			var plain []byte
			if err == nil {
				plain, err = io.ReadAll(zr)
			}
			if err != nil || !bytes.Equal(plain, tree.css) {
				fail("GET /static/app.css gzipped: does not decompress to the file (%v)", err)
			}
			if len(body) >= len(tree.css) {
				fail("GET /static/app.css gzipped: %d bytes, not smaller than the file's %d", len(body), len(tree.css))
			}
			if vary := resp.Header.Get("Vary"); s.Gzip.Vary && vary != "Accept-Encoding" {
				fail("GET /static/app.css gzipped: Vary %q, want Accept-Encoding (gzip_vary)", vary)
			}
		}
	}
	// /media/: the upload, cached for the media expiry, with byte ranges.
	if resp, body, ok := get("/media/upload.bin", nil); ok {
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, tree.media) {
			fail("GET /media/upload.bin: %s with %d bytes, want 200 with the file's %d", resp.Status, len(body), len(tree.media))
		}
		if ar := resp.Header.Values("Accept-Ranges"); !slices.Contains(ar, "bytes") {
			fail("GET /media/upload.bin: Accept-Ranges %q, want bytes", ar)
		}
		caching("/media/upload.bin", resp, s.Media)
	}
	if resp, body, ok := get("/media/upload.bin", map[string]string{"Range": "bytes=100-199"}); ok {
		wantRange := fmt.Sprintf("bytes 100-199/%d", len(tree.media))
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != wantRange || !bytes.Equal(body, tree.media[100:200]) {
			fail("GET /media/upload.bin Range bytes=100-199: %s, Content-Range %q, %d bytes; want 206, %q and those 100 bytes",
				resp.Status, resp.Header.Get("Content-Range"), len(body), wantRange)
		}
	}
	// The container's health location, and nothing else outside the files.
	if resp, body, ok := get(nginx.HealthPath, nil); ok && (resp.StatusCode != http.StatusOK || string(body) != "ok\n") {
		fail("GET %s: %s %q, want 200 \"ok\\n\"", nginx.HealthPath, resp.Status, body)
	}
	if resp, _, ok := get("/admin/", nil); ok {
		if resp.StatusCode != http.StatusNotFound {
			fail("GET /admin/: %s, want 404 (nginx serves only files)", resp.Status)
		}
		if server := resp.Header.Get("Server"); server != "nginx" {
			fail("GET /admin/: Server %q, want \"nginx\" without a version (server_tokens off)", server)
		}
	}
	// Request bodies: up to client_max_body_size passes the check, one byte
	// more is refused with 413 before the body is sent.
	limit := s.ClientMaxBodySize.Bytes()
	post := func(size int64) (int, error) {
		req, err := http.NewRequest(http.MethodPost, base+"/media/upload", io.LimitReader(zeros{}, size))
		if err != nil {
			return 0, err
		}
		req.ContentLength = size
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := post(limit); err != nil || code == http.StatusRequestEntityTooLarge {
		fail("POST of %d bytes (client_max_body_size %s): %d %v, want it past the size check (not 413)", limit, s.ClientMaxBodySize.Compact(), code, err)
	}
	if code, err := post(limit + 1); err != nil || code != http.StatusRequestEntityTooLarge {
		fail("POST of %d bytes (client_max_body_size %s + 1): %d %v, want 413", limit+1, s.ClientMaxBodySize.Compact(), code, err)
	}
	return errors.Join(problems...)
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestNginxAcceptsAndServesTheRenderedConf(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t, "nginx", "nginx")
	forEachShippedStack(t, func(t *testing.T, st shippedStack) {
		// What the container receives is the profile rendered for the
		// container: the conf below differs from it only in its layout.
		shipped, _, ok := st.run.container("nginx").upload(nginx.ConfPath)
		if !ok {
			t.Fatal("nginx gets no " + nginx.ConfPath)
		}
		if want := nginx.RenderConf(st.profile.Nginx, nginx.ContainerLayout()); shipped != want {
			t.Fatalf("the shipped nginx.conf is not the profile's render:\n%s\nwant:\n%s", shipped, want)
		}

		tree := newNginxTree(t, bin)
		conf := tree.write(t, nginx.RenderConf(st.profile.Nginx, tree.layout))
		if err := nginxTest(bin, conf, tree.layout.ErrorLog); err != nil {
			t.Fatal(err)
		}
		if err := startNginx(t, bin, conf, tree); err != nil {
			t.Fatal(err)
		}
		if err := checkNginxServes(fmt.Sprintf("http://127.0.0.1:%d", tree.layout.Listen), st.profile.Nginx, tree); err != nil {
			t.Errorf("stack %s: nginx does not serve what the profile says:\n%v", st.name, err)
		}
	})
}

// The checks above must be able to fail: a broken render fails them.
func TestNginxChecksFailOnABrokenRender(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t, "nginx", "nginx")
	st := loadShippedStack(t, "production")
	s := st.profile.Nginx

	t.Run("directive in the wrong context", func(t *testing.T) {
		t.Parallel()
		tree := newNginxTree(t, bin)
		conf := nginx.RenderConf(s, tree.layout)
		// client_max_body_size belongs to http, server or location: move it
		// into events.
		line := regexp.MustCompile(`(?m)^\s*client_max_body_size [^;\n]*;\n`).FindString(conf)
		if line == "" {
			t.Fatalf("no client_max_body_size line in:\n%s", conf)
		}
		broken := replaceOnce(t, conf, line, "")
		broken = replaceOnce(t, broken, "events {\n", "events {\n"+line)
		err := nginxTest(bin, tree.write(t, broken), tree.layout.ErrorLog)
		if err == nil || !strings.Contains(err.Error(), `"client_max_body_size" directive is not allowed here`) {
			t.Fatalf("nginx -t on a directive in the wrong block: %v, want it refused as not allowed here", err)
		}
	})

	t.Run("static location without its Cache-Control", func(t *testing.T) {
		t.Parallel()
		tree := newNginxTree(t, bin)
		conf := nginx.RenderConf(s, tree.layout)
		broken := replaceOnce(t, conf, fmt.Sprintf("add_header Cache-Control %q;", s.Static.CacheControl), "")
		path := tree.write(t, broken)
		if err := nginxTest(bin, path, tree.layout.ErrorLog); err != nil {
			t.Fatalf("the mutation should still be valid nginx: %v", err)
		}
		if err := startNginx(t, bin, path, tree); err != nil {
			t.Fatal(err)
		}
		err := checkNginxServes(fmt.Sprintf("http://127.0.0.1:%d", tree.layout.Listen), s, tree)
		if err == nil || !strings.Contains(err.Error(), "GET /static/app.css: Cache-Control") {
			t.Fatalf("serving without the static Cache-Control: %v, want the check to report it", err)
		}
	})
}
