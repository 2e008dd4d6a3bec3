package redis

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Settings are everything about the cache and channel-layer server that
// is known before deployment. DefaultSettings holds the guide's values.
type Settings struct {
	// Image is the server image.
	Image string `json:"image"`
	// Tuning are the server settings passed as `--name value` arguments.
	Tuning Tuning `json:"tuning"`
	runtime.ContainerSettings
}

// Tuning are the guide's server settings.
type Tuning struct {
	// MaxMemory is maxmemory: the data set's cap, below the container's memory
	// limit so that a fork for a snapshot or an AOF rewrite has room for its
	// copy-on-write pages.
	MaxMemory units.RedisSize `json:"maxMemory"`
	// MaxMemoryPolicy is maxmemory-policy.
	MaxMemoryPolicy string `json:"maxMemoryPolicy"`
	// Save is the RDB snapshot schedule, pairs of "<seconds> <changes>"; ""
	// disables snapshots.
	Save string `json:"save"`
	// AppendOnly is appendonly.
	AppendOnly bool `json:"appendOnly"`
	// TCPKeepalive is tcp-keepalive, whole seconds.
	TCPKeepalive units.Duration `json:"tcpKeepalive"`
	// MaxClients is maxclients.
	MaxClients int `json:"maxClients"`
	// Extra are further settings, name to value, rendered after the others in
	// name order ({"lazyfree-lazy-eviction": "yes"}).
	Extra map[string]string `json:"extra"`
}

// DefaultSettings returns the guide's Redis: its redis-server flags,
// 1 CPU / 768 MiB limits, a 0.5 CPU / 512 MiB reservation, an authenticated
// ping every 10s.
func DefaultSettings() Settings {
	return Settings{
		Image: "redis:7-alpine",
		Tuning: Tuning{
			MaxMemory:       units.RedisSize(512 * units.MiB),
			MaxMemoryPolicy: "allkeys-lru",
			Save:            "60 1000",
			AppendOnly:      true,
			TCPKeepalive:    units.Seconds(300),
			MaxClients:      10000,
		},
		// 30s to stop: time to fsync the append-only file on shutdown.
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(1, 768, 0.5, 512),
			runtime.Healthcheck{Interval: units.Seconds(10), Timeout: units.Seconds(3), Retries: 5, StartPeriod: units.Seconds(5)},
			units.Seconds(30)),
	}
}

// typed are the settings the tuning types.
func (t Tuning) typed() []runtime.ServerSetting {
	return []runtime.ServerSetting{
		{Name: "maxmemory", Key: "tuning.maxMemory", Value: t.MaxMemory.String()},
		{Name: "maxmemory-policy", Key: "tuning.maxMemoryPolicy", Value: t.MaxMemoryPolicy},
		{Name: "save", Key: "tuning.save", Value: t.Save},
		{Name: "appendonly", Key: "tuning.appendOnly", Value: units.YesNo(t.AppendOnly)},
		{Name: "tcp-keepalive", Key: "tuning.tcpKeepalive", Value: strconv.FormatInt(t.TCPKeepalive.Seconds(), 10)},
		{Name: "maxclients", Key: "tuning.maxClients", Value: strconv.Itoa(t.MaxClients)},
	}
}

// Settings returns the tuning as ordered name/value pairs.
func (t Tuning) Settings() [][2]string {
	return runtime.SettingPairs(t.typed(), t.Extra)
}

// Args renders the tuning as redis-server arguments. A multi-word value such
// as save's "60 1000" becomes one argument per word, which is how redis-server
// rebuilds the config line; an empty save stays one empty argument.
func (t Tuning) Args() []string {
	var args []string
	for _, kv := range t.Settings() {
		args = append(args, "--"+kv[0])
		if words := strings.Fields(kv[1]); len(words) > 0 {
			args = append(args, words...)
		} else {
			args = append(args, "")
		}
	}
	return args
}

// Paths and port inside the Redis container.
const (
	redisAuthConf = "/run/secrets/redis-auth.conf"
	redisDataDir  = "/data"
	Port          = 6379
)

// Command is the container command. The password lives in a config file read
// first, so it appears neither in the command line (`docker inspect`, `ps`)
// nor in the plain-text part of a preview; the tuning stays in the arguments,
// where a diff shows it.
func (s Settings) Command() []string {
	return append([]string{"redis-server", redisAuthConf}, s.Tuning.Args()...)
}

// HealthTest pings the server with the password from the config file, so the
// probe proves that authentication works, not only that the port is open.
func (s Settings) HealthTest() []string {
	return []string{"CMD-SHELL", fmt.Sprintf(
		`REDISCLI_AUTH="$(sed -n 's/^requirepass //p' %s)" redis-cli -p %d ping | grep -q PONG`, redisAuthConf, Port)}
}

// OpenFiles is the open-files limit the container asks for: maxclients plus
// the 32 descriptors Redis keeps for itself (10032 for the guide's 10000).
// No more: Docker refuses to start a container whose limit is above the
// daemon's own (`error setting rlimit type 7`), and a daemon started by hand
// may have as few as 20000. Below it, Redis would lower maxclients itself.
func (s Settings) OpenFiles() int { return s.Tuning.MaxClients + redisReservedFiles }

// redisReservedFiles are the descriptors Redis keeps beyond maxclients
// (CONFIG_MIN_RESERVED_FDS).
const redisReservedFiles = 32

var redisPolicies = []string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}

// redisMaxSeconds is the largest tcp-keepalive redis-server accepts
// ("argument must be between 0 and 2147483647 inclusive").
const redisMaxSeconds = math.MaxInt32

// extraRules are the rules of tuning.extra.
func (t Tuning) extraRules() runtime.ExtraRules {
	return runtime.ExtraRules{
		Server:  "Redis",
		Name:    regexp.MustCompile(`^[a-z][a-z0-9-]*$`),
		Example: "lazyfree-lazy-eviction",
		Typed:   t.typed(),
		Reserved: map[string]string{
			"requirepass": "the password is generated and read from a file (rotation.redis makes a new one)",
			"port":        fmt.Sprintf("the healthcheck and REDIS_PORT connect to %d", Port),
			"bind":        "the backend connects over the data network",
			"dir":         "the data volume is mounted at " + redisDataDir,
			"daemonize":   "the container's process must stay in the foreground",
		},
		Secret: map[string]bool{"requirepass": true},
	}
}

// Check reports settings Redis cannot start with, or cannot run with in its
// container.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	units.CheckImage(&ps, "image", s.Image)
	t := s.Tuning
	limit := s.Resources.Limits.Memory
	switch {
	case t.MaxMemory.Bytes() < units.MiB:
		ps.Add("tuning.maxMemory", "%q must be at least 1mb (0, no limit, would let the cache grow until the container is killed)", t.MaxMemory.String())
	case t.MaxMemory.Bytes() >= limit.Bytes():
		// Redis's own memory, its buffers and a fork for persistence come on
		// top of the data set.
		ps.AddComparing("tuning.maxMemory", []string{"resources.limits.memory"}, "%q does not fit in the container's %q memory limit: the data set alone would fill it, and the kernel kills Redis before maxmemory evicts anything",
			t.MaxMemory.String(), limit.String())
	}
	if !slices.Contains(redisPolicies, t.MaxMemoryPolicy) {
		ps.Add("tuning.maxMemoryPolicy", "%q is not a maxmemory-policy (one of %s)", t.MaxMemoryPolicy, strings.Join(redisPolicies, ", "))
	}
	if words := strings.Fields(t.Save); len(words)%2 != 0 || !allPositiveInts(words) {
		ps.Add("tuning.save", "%q is not a snapshot schedule (pairs of <seconds> <changes>, e.g. \"60 1000\" or \"900 1 300 10\"; \"\" disables)", t.Save)
	}
	switch {
	case t.TCPKeepalive < 0:
		ps.Add("tuning.tcpKeepalive", "%q must not be negative", t.TCPKeepalive.String())
	case t.TCPKeepalive.Seconds() > redisMaxSeconds:
		ps.Add("tuning.tcpKeepalive", "%q is above Redis's maximum of %ds for tcp-keepalive; the server would not start", t.TCPKeepalive.String(), redisMaxSeconds)
	}
	if t.MaxClients < 1 {
		ps.Add("tuning.maxClients", "%d must be at least 1", t.MaxClients)
	}
	t.extraRules().Check(&ps, "tuning.extra", t.Extra)
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

func allPositiveInts(words []string) bool {
	for _, w := range words {
		if n, err := strconv.Atoi(w); err != nil || n < 1 {
			return false
		}
	}
	return true
}

// Args are the inputs of a Redis component.
type Args struct {
	// Settings of the server; nil means DefaultSettings().
	Settings *Settings
	// Target is where the component deploys.
	runtime.Target
	// Password clients must authenticate with. Alphanumeric: it goes in URLs.
	Password pulumi.StringInput
	// Network is the name of the (internal) network the server joins.
	Network pulumi.StringInput
}

// Redis is the cache and channel-layer server and its data volume.
type Redis struct {
	pulumi.ResourceState

	// Spec describes the container, for the preview of what a change costs.
	Spec runtime.Spec
	// Server is the container, or Swarm service, that runs it.
	Server pulumi.Resource
	Volume *docker.Volume
	// Host is the server's name on the data network.
	Host string
	// Port is the server's port on the data network.
	Port int
	// URL is the connection URL of database 0 (secret).
	URL pulumi.StringOutput
}

// Host is the Redis container's name, which the backend resolves on
// the data network (REDIS_HOST).
func Host(n naming.Naming) string { return n.Name("redis") }

// New registers the Redis server: its image, a data volume for the
// snapshot and append-only file, and a password-protected container.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Redis, error) {
	if args == nil || args.Password == nil || args.Network == nil {
		return nil, errors.New("redis: args with a password and a network are required")
	}
	s, err := problems.Resolve("redis", args.Settings, DefaultSettings, nil)
	if err != nil {
		return nil, err
	}

	c := &Redis{Host: Host(args.Naming), Port: Port}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Redis", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := runtime.PullImage(ctx, name+"-image", s.Image, parent)
	if err != nil {
		return nil, err
	}
	c.Volume, err = runtime.NewVolume(ctx, name+"-data", runtime.VolumeArgs{
		DockerName: args.Naming.Name("redis-data"),
		Labels:     args.Naming.ComponentLabels("redis"),
	}, parent)
	if err != nil {
		return nil, err
	}
	authConf := pulumi.ToSecret(pulumi.Sprintf("requirepass %s\n", args.Password)).(pulumi.StringOutput)
	w := runtime.Workload{
		Name:        c.Host,
		ImageSource: s.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		// The official image's; see stopExitScript.
		ImageEntrypoint: []string{"docker-entrypoint.sh"},
		Command:         s.Command(),
		// Read by redis-server after the image drops to the redis user.
		Files:   []runtime.File{{Path: redisAuthConf, Content: authConf, Mode: "0444", Secret: true}},
		Volumes: []runtime.VolumeMount{{Volume: c.Volume.Name, Target: redisDataDir}},
		// The image starts as root only to hand /data to redis, which owns
		// it already (a fresh volume copies the image's ownership).
		Privileges:  runtime.Privileges{User: "redis"},
		Constraints: args.Constraints,
		Networks:    []pulumi.StringInput{args.Network},
		Labels:      args.Naming.ComponentLabels("redis"),
		HealthTest:  s.HealthTest(),
		Settings:    s.ContainerSettings,
		NoFile:      s.OpenFiles(),
	}
	c.Spec = w.Describe()
	c.Server, err = runtime.Register(ctx, args.Runtime, name, w, parent)
	if err != nil {
		return nil, err
	}
	c.URL = pulumi.ToSecret(pulumi.Sprintf("redis://:%s@%s:%d/0", args.Password, c.Host, Port)).(pulumi.StringOutput)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"host": pulumi.String(c.Host),
		"url":  c.URL,
	})
}

// Part describes Redis to the stack.
func (s Settings) Part() runtime.Part {
	return runtime.Part{Key: "redis", Count: 1, Settings: s.ContainerSettings, Image: s.Image, Check: s.Check,
		Cost: runtime.FixedCost("its container is replaced, so Redis restarts (a few seconds): the cache and the channel layer are " +
			"unavailable meanwhile, and channel messages in flight are lost; data comes back from the append-only file")}
}
