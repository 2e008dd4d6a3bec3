package tests

import (
	"github.com/djangostack/infra/components/nginx"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// directive is one nginx directive with its block, if any.
type directive struct {
	name     string
	args     []string
	children []directive
}

// parseNginx reads nginx.conf syntax into directives: enough of it to say
// which directive sits in which block with which arguments.
func parseNginx(t *testing.T, conf string) []directive {
	t.Helper()
	var tokens []string
	for i := 0; i < len(conf); {
		c := conf[i]
		switch {
		case c == '#':
			for i < len(conf) && conf[i] != '\n' {
				i++
			}
		case unicode.IsSpace(rune(c)):
			i++
		case c == '{' || c == '}' || c == ';':
			tokens = append(tokens, string(c))
			i++
		case c == '"':
			j := strings.IndexByte(conf[i+1:], '"')
			if j < 0 {
				t.Fatalf("unterminated quote in nginx.conf")
			}
			tokens = append(tokens, conf[i+1:i+1+j])
			i += j + 2
		default:
			j := i
			for j < len(conf) && !unicode.IsSpace(rune(conf[j])) && !strings.ContainsRune("{};", rune(conf[j])) {
				j++
			}
			tokens = append(tokens, conf[i:j])
			i = j
		}
	}
	pos := 0
	var block func() []directive
	block = func() []directive {
		var out []directive
		for pos < len(tokens) && tokens[pos] != "}" {
			d := directive{name: tokens[pos]}
			pos++
			for pos < len(tokens) && tokens[pos] != ";" && tokens[pos] != "{" {
				d.args = append(d.args, tokens[pos])
				pos++
			}
			if pos < len(tokens) && tokens[pos] == "{" {
				pos++
				d.children = block()
			}
			pos++ // ";" or "}"
			out = append(out, d)
		}
		return out
	}
	return block()
}

// find returns the directives at a path such as "http", "server",
// "location /static/".
func find(ds []directive, path ...string) []directive {
	if len(path) == 0 {
		return ds
	}
	for _, d := range ds {
		if strings.TrimSpace(d.name+" "+strings.Join(d.args, " ")) == path[0] || d.name == path[0] {
			if d.children != nil {
				return find(d.children, path[1:]...)
			}
		}
	}
	return nil
}

// args collects each directive's arguments, joined, by name; a repeated
// directive (add_header) keeps each occurrence.
func args(ds []directive) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		out[d.name] = append(out[d.name], strings.Join(d.args, " "))
	}
	return out
}

func TestNginxConfCarriesTheGuide(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	ng := r.container("nginx")
	conf, _, ok := ng.upload(nginx.ConfPath)
	if !ok {
		t.Fatal("nginx gets no " + nginx.ConfPath)
	}
	tree := parseNginx(t, conf)
	http := args(find(tree, "http"))
	want := map[string]string{
		"gzip":                      "on",
		"gzip_comp_level":           "6",
		"gzip_types":                "text/plain text/css application/json application/javascript",
		"gzip_vary":                 "on",
		"client_body_buffer_size":   "128k",
		"client_max_body_size":      "10m",
		"client_body_timeout":       "12s",
		"client_header_timeout":     "12s",
		"keepalive_timeout":         "300s",
		"send_timeout":              "10s",
		"reset_timedout_connection": "on",
		"open_file_cache":           "max=2000 inactive=20s",
		"open_file_cache_valid":     "60s",
		"open_file_cache_min_uses":  "2",
		"open_file_cache_errors":    "on",
	}
	for name, value := range want {
		if got := http[name]; !reflect.DeepEqual(got, []string{value}) {
			t.Errorf("http %s = %q, want %q", name, got, value)
		}
	}

	static := args(find(tree, "http", "server", "location /static/"))
	wantStatic := map[string][]string{
		"alias":       {"/srv/static/"},
		"expires":     {"1y"},
		"add_header":  {"Cache-Control public, immutable"},
		"sendfile":    {"on"},
		"tcp_nopush":  {"on"},
		"tcp_nodelay": {"on"},
		"directio":    {"4m"},
	}
	if !reflect.DeepEqual(static, wantStatic) {
		t.Errorf("location /static/ = %v\nwant %v", static, wantStatic)
	}
	media := args(find(tree, "http", "server", "location /media/"))
	wantMedia := map[string][]string{
		"alias":      {"/srv/media/"},
		"expires":    {"30d"},
		"add_header": {"Cache-Control public", "Accept-Ranges bytes"},
		"sendfile":   {"on"},
	}
	if !reflect.DeepEqual(media, wantMedia) {
		t.Errorf("location /media/ = %v\nwant %v", media, wantMedia)
	}
	// The Cache-Control value is one quoted argument, as nginx needs it.
	if !strings.Contains(conf, `add_header Cache-Control "public, immutable";`) {
		t.Errorf("static Cache-Control is not quoted as one value:\n%s", conf)
	}

	assertRuntime(t, "nginx", ng, guideRuntime{
		cpus: "0.5", memoryMiB: 256, reservationMiB: 64, cpuShares: 256,
		interval: "30s", timeout: "5s", startPeriod: "10s", retries: 3,
		healthTest: []string{"CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/nginx-health"},
	})
	if got := ng.networks(); !reflect.DeepEqual(got, []string{"django-stack-production-edge"}) {
		t.Errorf("nginx networks = %v, want only edge", got)
	}
	for _, v := range asSlice(ng.input("volumes")) {
		if m := asMap(v); m["readOnly"] != true {
			t.Errorf("nginx mounts %v read-write", m["containerPath"])
		}
	}
}

func TestNginxRoutesStaticAndMediaAheadOfTheBackend(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	labels := r.container("nginx").labels()
	const router = "traefik.http.routers.django-stack-production-files."
	want := map[string]string{
		router + "rule":        "(Host(`example.com`) || Host(`www.example.com`)) && (PathPrefix(`/static/`) || PathPrefix(`/media/`))",
		router + "priority":    "100",
		router + "entrypoints": "websecure",
		"traefik.http.services.django-stack-production-files.loadbalancer.server.port": "80",
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("nginx label %s = %q, want %q", k, labels[k], v)
		}
	}
	backend := r.container("backend-1").labels()
	backendPriority, _ := strconv.Atoi(backend["traefik.http.routers.django-stack-production-backend.priority"])
	filesPriority, _ := strconv.Atoi(labels[router+"priority"])
	if backendPriority >= filesPriority {
		t.Errorf("the backend's router outranks nginx's")
	}
}
