package nginx

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/djangostack/infra/components/backend"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/site"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Settings are the static- and media-file server's configuration.
// DefaultSettings holds the guide's nginx.conf values.
type Settings struct {
	// Image is the server image.
	Image string `json:"image"`
	// WorkerConnections is events.worker_connections.
	WorkerConnections int `json:"workerConnections"`
	// Gzip is response compression.
	Gzip Gzip `json:"gzip"`
	// ClientBodyBufferSize is client_body_buffer_size.
	ClientBodyBufferSize units.Size `json:"clientBodyBufferSize"`
	// ClientMaxBodySize is client_max_body_size; larger request bodies get 413.
	ClientMaxBodySize units.Size `json:"clientMaxBodySize"`
	// ClientBodyTimeout is client_body_timeout.
	ClientBodyTimeout units.Duration `json:"clientBodyTimeout"`
	// ClientHeaderTimeout is client_header_timeout.
	ClientHeaderTimeout units.Duration `json:"clientHeaderTimeout"`
	// KeepaliveTimeout is keepalive_timeout.
	KeepaliveTimeout units.Duration `json:"keepaliveTimeout"`
	// SendTimeout is send_timeout.
	SendTimeout units.Duration `json:"sendTimeout"`
	// ResetTimedoutConnection is reset_timedout_connection.
	ResetTimedoutConnection bool `json:"resetTimedoutConnection"`
	// OpenFileCache caches file descriptors and lookups.
	OpenFileCache OpenFileCache `json:"openFileCache"`
	// Static is /static/: collected assets with hashed names, cached for a year.
	Static FileCaching `json:"static"`
	// Media is /media/: user uploads, cached for 30 days.
	Media FileCaching `json:"media"`
	runtime.ContainerSettings
}

// Gzip is nginx's gzip configuration.
type Gzip struct {
	// Enabled is gzip.
	Enabled bool `json:"enabled"`
	// Level is gzip_comp_level, 1-9.
	Level int `json:"level"`
	// Types is gzip_types; text/html is always compressed.
	Types []string `json:"types"`
	// Vary is gzip_vary: Vary: Accept-Encoding on compressible responses, so a
	// cache in front (Cloudflare) keeps the compressed and plain copies apart.
	Vary bool `json:"vary"`
}

// OpenFileCache is nginx's open_file_cache family.
type OpenFileCache struct {
	// Max is open_file_cache max=.
	Max int `json:"max"`
	// Inactive is open_file_cache inactive=.
	Inactive units.Duration `json:"inactive"`
	// Valid is open_file_cache_valid.
	Valid units.Duration `json:"valid"`
	// MinUses is open_file_cache_min_uses.
	MinUses int `json:"minUses"`
	// Errors is open_file_cache_errors.
	Errors bool `json:"errors"`
}

// FileCaching is how a location of files is served and cached.
type FileCaching struct {
	// Expires is the expires directive.
	Expires units.Duration `json:"expires"`
	// CacheControl is the Cache-Control header added to responses.
	CacheControl string `json:"cacheControl"`
	// Directio is directio: files this large bypass the page cache.
	Directio units.Size `json:"directio"`
}

// DefaultSettings returns the guide's nginx.conf as settings, with
// 0.5 CPU / 256 MiB limits and a 0.25 CPU / 64 MiB reservation.
func DefaultSettings() Settings {
	return Settings{
		Image:                   "nginx:1.27-alpine",
		WorkerConnections:       1024,
		Gzip:                    Gzip{Enabled: true, Level: 6, Types: []string{"text/plain", "text/css", "application/json", "application/javascript"}, Vary: true},
		ClientBodyBufferSize:    units.Size(128 * units.KiB),
		ClientMaxBodySize:       units.Size(10 * units.MiB),
		ClientBodyTimeout:       units.Seconds(12),
		ClientHeaderTimeout:     units.Seconds(12),
		KeepaliveTimeout:        units.Seconds(300),
		SendTimeout:             units.Seconds(10),
		ResetTimedoutConnection: true,
		OpenFileCache:           OpenFileCache{Max: 2000, Inactive: units.Seconds(20), Valid: units.Seconds(60), MinUses: 2, Errors: true},
		Static:                  FileCaching{Expires: units.Duration(units.Year), CacheControl: "public, immutable", Directio: units.Size(4 * units.MiB)},
		Media:                   FileCaching{Expires: units.Duration(30 * units.Day), CacheControl: "public"},
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(0.5, 256, 0.25, 64),
			runtime.Healthcheck{Interval: units.Seconds(30), Timeout: units.Seconds(5), Retries: 3, StartPeriod: units.Seconds(10)},
			units.Seconds(15)),
	}
}

// Layout is where the rendered configuration runs: the container
// (ContainerLayout), or a tree of its own (TreeLayout), where a
// real nginx runs it outside the container.
type Layout struct {
	// Listen is the port of the server block.
	Listen int
	// StaticDir and MediaDir are the roots of /static/ and /media/.
	StaticDir string
	MediaDir  string
	// MimeTypes is the path of nginx's mime.types.
	MimeTypes string
	// pidFile is where the master writes its pid.
	pidFile string
	// User runs the workers; empty leaves nginx's default.
	User string
	// ErrorLog and AccessLog are log destinations.
	ErrorLog  string
	AccessLog string
	// tempDir, when set, holds nginx's temporary files instead of its
	// compiled-in paths.
	tempDir string
}

var mimeType = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$`)

// ConfPath is where the container's nginx.conf is: a directory of its own,
// which holds it alone (a container's files are a volume, runtime.Workload).
const ConfPath = "/etc/nginx/django-stack/nginx.conf"

// HealthPath answers 200 for the container's own healthcheck; Traefik
// does not route it.
const HealthPath = "/nginx-health"

// TreeLayout is the layout of a tree of its own under root, which any
// user may run nginx on: the files under root/static and root/media, the
// logs under root/logs, the pid file and the temporary files under root
// too. Listen, MimeTypes and User are the caller's.
func TreeLayout(root string) Layout {
	return Layout{
		StaticDir: filepath.Join(root, "static"),
		MediaDir:  filepath.Join(root, "media"),
		ErrorLog:  filepath.Join(root, "logs", "error.log"),
		AccessLog: filepath.Join(root, "logs", "access.log"),
		pidFile:   filepath.Join(root, "nginx.pid"),
		tempDir:   filepath.Join(root, "temp"),
	}
}

// ContainerLayout is the layout inside the official nginx image.
func ContainerLayout() Layout {
	return Layout{
		Listen:    80,
		StaticDir: backend.StaticRoot,
		MediaDir:  backend.MediaRoot,
		MimeTypes: "/etc/nginx/mime.types",
		pidFile:   "/var/run/nginx.pid",
		tempDir:   "/var/cache/nginx",
		User:      "nginx",
		ErrorLog:  "/dev/stderr",
		AccessLog: "/dev/stdout",
	}
}

var nginxConf = template.Must(template.New("nginx.conf").Funcs(template.FuncMap{
	"onoff":   units.OnOff,
	"seconds": func(d units.Duration) string { return fmt.Sprintf("%ds", d.Seconds()) },
	"join":    strings.Join,
}).Parse(`# Rendered by the django-stack Pulumi program from its profile; edits here are overwritten.
{{- with .Layout}}{{if .User}}
user {{.User}};{{end}}
worker_processes auto;
pid {{$.PidFile}};
error_log {{.ErrorLog}} warn;
{{- end}}

events {
    worker_connections {{.S.WorkerConnections}};
}

http {
    include {{.Layout.MimeTypes}};
    default_type application/octet-stream;
    access_log {{.Layout.AccessLog}};
    server_tokens off;
{{- with .TempDir}}
    client_body_temp_path {{.}}/client_body;
    proxy_temp_path {{.}}/proxy;
    fastcgi_temp_path {{.}}/fastcgi;
    uwsgi_temp_path {{.}}/uwsgi;
    scgi_temp_path {{.}}/scgi;
{{- end}}

    # Compression
    gzip {{onoff .S.Gzip.Enabled}};
    gzip_comp_level {{.S.Gzip.Level}};
    gzip_types {{join .S.Gzip.Types " "}};
    gzip_vary {{onoff .S.Gzip.Vary}};

    # Buffer settings
    client_body_buffer_size {{.S.ClientBodyBufferSize.Compact}};
    client_max_body_size {{.S.ClientMaxBodySize.Compact}};

    # Timeout settings
    client_body_timeout {{seconds .S.ClientBodyTimeout}};
    client_header_timeout {{seconds .S.ClientHeaderTimeout}};
    keepalive_timeout {{seconds .S.KeepaliveTimeout}};
    send_timeout {{seconds .S.SendTimeout}};
    reset_timedout_connection {{onoff .S.ResetTimedoutConnection}};

    # File cache
    open_file_cache max={{.S.OpenFileCache.Max}} inactive={{seconds .S.OpenFileCache.Inactive}};
    open_file_cache_valid {{seconds .S.OpenFileCache.Valid}};
    open_file_cache_min_uses {{.S.OpenFileCache.MinUses}};
    open_file_cache_errors {{onoff .S.OpenFileCache.Errors}};

    server {
        listen {{.Layout.Listen}} default_server;
        server_name _;

        location = {{.HealthPath}} {
            access_log off;
            default_type text/plain;
            return 200 "ok\n";
        }

        # Static files caching
        location /static/ {
            alias {{.Layout.StaticDir}}/;
            expires {{.S.Static.Expires}};
            add_header Cache-Control "{{.S.Static.CacheControl}}";
            sendfile on;
            tcp_nopush on;
            tcp_nodelay on;
{{- if .S.Static.Directio}}
            directio {{.S.Static.Directio.Compact}};
{{- end}}
        }

        # Media files caching
        location /media/ {
            alias {{.Layout.MediaDir}}/;
            expires {{.S.Media.Expires}};
            add_header Cache-Control "{{.S.Media.CacheControl}}";
            sendfile on;
            add_header Accept-Ranges bytes;
{{- if .S.Media.Directio}}
            directio {{.S.Media.Directio.Compact}};
{{- end}}
        }

        location / {
            return 404;
        }
    }
}
`))

// RenderConf renders the complete nginx.conf for the settings, laid out
// for the container or for a test tree.
func RenderConf(s Settings, layout Layout) string {
	var b strings.Builder
	err := nginxConf.Execute(&b, struct {
		S                Settings
		Layout           Layout
		PidFile, TempDir string
		HealthPath       string
	}{s, layout, layout.pidFile, layout.tempDir, HealthPath})
	if err != nil {
		// The template is fixed and its data typed: an error is a bug here.
		panic(err)
	}
	return b.String()
}

// HealthTest fetches the health location with the image's busybox wget.
func (s Settings) HealthTest() []string {
	return []string{"CMD", "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d%s", ContainerLayout().Listen, HealthPath)}
}

// Route is nginx's Traefik route: /static/ and /media/ on the site's domains,
// ahead of the backend's catch-all route.
func (s Settings) Route(name string, site site.Site) traefik.Route {
	return traefik.Route{
		Name:     name,
		Rule:     fmt.Sprintf("(%s) && (PathPrefix(`/static/`) || PathPrefix(`/media/`))", site.HostRule()),
		Priority: 100,
		Port:     ContainerLayout().Listen,
	}
}

// Check reports settings nginx cannot start with.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	units.CheckImage(&ps, "image", s.Image)
	if s.WorkerConnections < 16 {
		ps.Add("workerConnections", "%d must be at least 16", s.WorkerConnections)
	}
	if s.Gzip.Level < 1 || s.Gzip.Level > 9 {
		ps.Add("gzip.level", "%d is not a gzip level (1-9)", s.Gzip.Level)
	}
	for i, t := range s.Gzip.Types {
		if !mimeType.MatchString(t) {
			ps.Add(fmt.Sprintf("gzip.types[%d]", i), "%q is not a MIME type (e.g. text/css)", t)
		}
	}
	for _, d := range []struct {
		key string
		v   units.Duration
	}{
		{"clientBodyTimeout", s.ClientBodyTimeout}, {"clientHeaderTimeout", s.ClientHeaderTimeout},
		{"keepaliveTimeout", s.KeepaliveTimeout}, {"sendTimeout", s.SendTimeout},
		{"openFileCache.inactive", s.OpenFileCache.Inactive}, {"openFileCache.valid", s.OpenFileCache.Valid},
	} {
		if d.v < units.Seconds(1) || d.v%units.Seconds(1) != 0 {
			ps.Add(d.key, "%q must be a whole number of seconds, at least 1s", d.v.String())
		}
	}
	if s.OpenFileCache.Max < 1 {
		ps.Add("openFileCache.max", "%d must be at least 1", s.OpenFileCache.Max)
	}
	for _, loc := range []struct {
		key string
		v   FileCaching
	}{{"static", s.Static}, {"media", s.Media}} {
		if loc.v.CacheControl == "" || strings.ContainsAny(loc.v.CacheControl, "\"\\\n;{}") {
			ps.Add(loc.key+".cacheControl", "%q must be a header value without quotes, backslashes, braces or semicolons", loc.v.CacheControl)
		}
		if loc.v.Expires < 0 {
			ps.Add(loc.key+".expires", "%q must not be negative", loc.v.Expires.String())
		}
	}
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// Args are the inputs of an Nginx component.
type Args struct {
	// Settings of the server; nil means DefaultSettings().
	Settings *Settings
	// Target is where the component deploys.
	runtime.Target
	// Site whose /static/ and /media/ nginx serves.
	Site site.Site
	// Network is the edge network Traefik reaches nginx on.
	Network pulumi.StringInput
	// StaticVolume and MediaVolume are mounted read-only.
	StaticVolume pulumi.StringInput
	MediaVolume  pulumi.StringInput
	// SharedVolumes is the driver that gives every Swarm node the same files.
	SharedVolumes runtime.VolumeDriver
}

// Nginx serves the collected static files and the uploaded media.
type Nginx struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec runtime.Spec
	// Server is the container, or Swarm service, that runs it.
	Server pulumi.Resource
	// Name is the container's Docker name.
	Name string
	// Conf is the rendered nginx.conf.
	Conf string
}

// New registers nginx with its rendered configuration.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nginx, error) {
	if args == nil || args.Network == nil || args.StaticVolume == nil || args.MediaVolume == nil {
		return nil, errors.New("nginx: args with a network and the static and media volumes are required")
	}
	if len(args.Site.Domains) == 0 {
		return nil, errors.New("nginx: the site needs at least one domain")
	}
	s, err := problems.Resolve("nginx", args.Settings, DefaultSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Nginx{Name: args.Naming.Name("nginx"), Conf: RenderConf(s, ContainerLayout())}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Nginx", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := runtime.PullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	w := runtime.Workload{
		Name:        c.Name,
		ImageSource: s.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		// The official image's entrypoint and command; see stopExitScript.
		ImageEntrypoint: []string{"/docker-entrypoint.sh"},
		Command:         []string{"nginx", "-c", ConfPath, "-g", "daemon off;"},
		Files:           []runtime.File{{Path: ConfPath, Content: pulumi.String(c.Conf), Mode: "0444"}},
		// The master process stays root to listen on port 80, create its
		// temporary directories for the workers (CHOWN) and start them as
		// the nginx user (SETUID, SETGID); it writes its pid file and
		// temporary files, nothing else.
		Privileges: runtime.Privileges{
			Capabilities: []string{"CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"},
			Writable:     []string{"/var/cache/nginx", "/var/run"},
		},
		Volumes: []runtime.VolumeMount{
			{Volume: args.StaticVolume, Target: backend.StaticRoot, ReadOnly: true, Driver: args.SharedVolumes},
			{Volume: args.MediaVolume, Target: backend.MediaRoot, ReadOnly: true, Driver: args.SharedVolumes},
		},
		Constraints: args.Constraints,
		Networks:    []pulumi.StringInput{args.Network},
		Labels:      runtime.MergeMaps(args.Naming.ComponentLabels("nginx"), s.Route(args.Naming.Name("files"), args.Site).Labels(args.Site)),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
	}
	c.Spec = w.Describe()
	c.Server, err = runtime.Register(ctx, args.Runtime, name, w, parent)
	if err != nil {
		return nil, err
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": pulumi.String(c.Name)})
}

// Part describes nginx to the stack.
func (s Settings) Part() runtime.Part {
	return runtime.Part{Key: "nginx", Count: 1, Settings: s.ContainerSettings, Image: s.Image, Check: s.Check,
		Cost: runtime.FixedCost("its container is replaced: /static/ and /media/ answer 502 for a few seconds")}
}
