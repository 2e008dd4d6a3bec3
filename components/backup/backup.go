package backup

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/djangostack/infra/components/naming"
	"github.com/djangostack/infra/components/postgres"
	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/runtime"
	"github.com/djangostack/infra/components/scripts"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Key names the backups to the stack: the part's key (its spec, its entry in
// the containers output, its change notes), the component of its problems
// and labels, and the end of its Docker name ("…-backup").
const Key = "backup"

// Settings are the scheduled dumps of the application database.
type Settings struct {
	// Enabled runs the backup service.
	Enabled bool `json:"enabled"`
	// Interval between dumps.
	Interval units.Duration `json:"interval"`
	// Keep is how many of the newest good dumps are never pruned, whatever
	// their age (default 28: a week of 6-hourly dumps).
	Keep int `json:"keep"`
	// MaxAge is the age past which dumps beyond Keep are pruned.
	MaxAge units.Duration `json:"maxAge"`
	// Offsite copies each good dump to S3-compatible storage.
	Offsite Offsite `json:"offsite"`
	runtime.ContainerSettings
}

// Offsite is the copy of the dumps to S3-compatible object storage.
type Offsite struct {
	// URL is the destination, s3://bucket/prefix (default none: no copy).
	URL string `json:"url"`
	// Endpoint is an S3-compatible service's endpoint, such as
	// https://s3.eu-central-003.backblazeb2.com (default none: AWS S3).
	Endpoint string `json:"endpoint"`
	// Region of the bucket.
	Region string `json:"region"`
	// AccessKeyID of the storage key; its secret is the secret config
	// django-stack:offsiteSecretKey.
	AccessKeyID string `json:"accessKeyId"`
	// Image is the AWS CLI image that copies.
	Image string `json:"image"`
	// Interval between full syncs, each of which lists the bucket and
	// copies every good dump not there yet (a failed copy is tried again
	// then). A new dump is copied within 30s of being written, whatever
	// the interval.
	Interval units.Duration `json:"interval"`
	// CACertificates is the PEM text of the root certificates the copy
	// trusts, instead of the system's, for the endpoint's https: those of
	// an S3-compatible store behind a private CA (MinIO or Ceph with an
	// internal CA). Empty, the default, trusts the system's roots.
	CACertificates runtime.CACertificates `json:"caCertificates"`
}

// offsiteCAPath is where the copy's private CA roots are, for the aws
// command's AWS_CA_BUNDLE.
const offsiteCAPath = scripts.Dir + "/offsite-ca.pem"

// Enabled reports whether the dumps are copied off the host.
func (o Offsite) Enabled() bool { return o.URL != "" }

// DefaultSettings back up every 6 hours, keep 28 dumps (a week) and
// prune others after 30 days, in a small container that reports unhealthy
// once the newest good dump is older than two intervals.
func DefaultSettings() Settings {
	return Settings{
		Enabled:  true,
		Interval: units.Seconds(6 * 3600),
		Keep:     28,
		MaxAge:   units.Duration(30 * units.Day),
		Offsite: Offsite{
			Region:   "us-east-1",
			Image:    "amazon/aws-cli:2.27.50",
			Interval: units.Seconds(15 * 60),
		},
		// The probe hashes the newest dump, which takes a while for a big
		// database; the start period leaves the first dump time to finish.
		ContainerSettings: runtime.GuideContainer(runtime.NewResources(1, 512, 0.1, 64),
			runtime.Healthcheck{Interval: units.Seconds(120), Timeout: units.Seconds(60), Retries: 3, StartPeriod: units.Seconds(1800)},
			units.Seconds(30)),
	}
}

// Env renders the scripts' environment (see components/scripts/backup.sh).
func (s Settings) Env(db *postgres.Postgres, prefix string) map[string]string {
	return map[string]string{
		"PGHOST":          db.Host,
		"PGPORT":          strconv.Itoa(db.Port),
		"PGUSER":          db.Superuser,
		"PGDATABASE":      db.Database,
		"PGPASSWORD_FILE": postgres.SuperuserPasswordFile,
		"BACKUP_DB_OWNER": db.User,
		"BACKUP_DIR":      scripts.DumpDir,
		"BACKUP_PREFIX":   prefix,
		"BACKUP_INTERVAL": strconv.FormatInt(s.Interval.Seconds(), 10),
		"BACKUP_KEEP":     strconv.Itoa(s.Keep),
		"BACKUP_MAX_AGE":  strconv.FormatInt(s.MaxAge.Seconds(), 10),
	}
}

// Check reports backup settings that cannot work.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	if !s.Enabled {
		return ps
	}
	if s.Interval < units.Seconds(60) || s.Interval%units.Seconds(1) != 0 {
		ps.Add("interval", "%q must be a whole number of seconds, at least 60s", s.Interval.String())
	}
	if s.Keep < 1 {
		ps.Add("keep", "%d must be at least 1: the newest good dump is never pruned", s.Keep)
	}
	if s.MaxAge < s.Interval {
		ps.Add("maxAge", "%q is shorter than the interval %q: every dump but the kept ones would go at once", s.MaxAge.String(), s.Interval.String())
	}
	if o := s.Offsite; o.Enabled() {
		if u, err := url.Parse(o.URL); err != nil || u.Scheme != "s3" || u.Host == "" {
			ps.Add("offsite.url", "%q is not an S3 location (s3://bucket/prefix)", o.URL)
		}
		if o.Endpoint != "" {
			if u, err := url.Parse(o.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
				ps.Add("offsite.endpoint", "%q is not an https endpoint (https://s3.example.com)", o.Endpoint)
			}
		}
		if o.AccessKeyID == "" {
			ps.Add("offsite.accessKeyId", "must be set with offsite.url")
		}
		if o.CACertificates.Set() {
			o.CACertificates.Check(&ps, "offsite.caCertificates", time.Now())
			if o.Endpoint == "" {
				// AWS_CA_BUNDLE replaces the system's roots, which AWS's
				// own endpoints need.
				ps.Add("offsite.caCertificates", "is set without offsite.endpoint: the copy would trust only these roots, and AWS S3's certificates chain to public ones; set it for a store of your own")
			}
		}
		units.CheckImage(&ps, "offsite.image", o.Image)
		if o.Interval < units.Seconds(60) {
			ps.Add("offsite.interval", "%q must be at least 60s", o.Interval.String())
		}
	}
	ps = append(ps, s.ContainerSettings.Check()...)
	return ps
}

// Args are the inputs of a Backup component.
type Args struct {
	// Settings of the backups; nil means DefaultSettings().
	Settings *Settings
	// Target is where the component deploys (on Swarm, the data node).
	runtime.Target
	// Database is the Postgres component to dump; the backup container
	// runs its image, so pg_dump matches the server.
	Database *postgres.Postgres
	// DatabaseImage is the Postgres image reference.
	DatabaseImage string
	// Password of the database superuser, which dumps and restores: a
	// restore makes a database and closes the application's sessions.
	Password pulumi.StringInput
	// Network is the data network.
	Network pulumi.StringInput
	// KeepData protects the backups volume too.
	KeepData bool
	// OffsiteSecretKey is the storage key's secret, when Settings.Offsite is on.
	OffsiteSecretKey pulumi.StringInput
}

// Backup is the dump service, its volume, and the optional off-host copy.
type Backup struct {
	pulumi.ResourceState

	// Spec describes the dump container.
	Spec runtime.Spec
	// Server runs the dumps; Offsite copies them (nil when off).
	Server  pulumi.Resource
	Offsite pulumi.Resource
	Volume  *docker.Volume
	// Name is the dump container's Docker name; OffsiteName the off-host
	// copy's ("" when it is off).
	Name, OffsiteName string
}

// Volume is the Docker name of the backups volume.
func Volume(n naming.Naming) string { return n.Name("backups") }

// scriptFiles are the backup scripts as files of a container.
func scriptFiles() ([]runtime.File, error) {
	entries, err := scripts.Files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var files []runtime.File
	for _, e := range entries {
		content, err := scripts.Files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		files = append(files, runtime.File{Path: scripts.Dir + "/" + e.Name(), Content: pulumi.String(string(content)), Mode: "0555"})
	}
	return files, nil
}

// New registers the backup service: the Postgres image running the
// dump loop on the data network, writing to a volume that outlives the
// stack, and reporting unhealthy when the newest good dump is too old.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Backup, error) {
	if args == nil || args.Database == nil || args.Password == nil || args.Network == nil || args.DatabaseImage == "" {
		return nil, errors.New("backup: args with the database, its image, its password and the data network are required")
	}
	s, err := problems.Resolve(Key, args.Settings, DefaultSettings, func(s Settings) (ps problems.Problems) {
		if s.Offsite.Enabled() && args.OffsiteSecretKey == nil {
			ps.Add("offsite", "needs the storage key's secret")
		}
		return ps
	})
	if err != nil {
		return nil, err
	}
	files, err := scriptFiles()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	c := &Backup{Name: args.Naming.Name(Key)}
	if err := ctx.RegisterComponentResource(runtime.TypePrefix+"Backup", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	image, err := runtime.PullImage(ctx, name+"-image", args.DatabaseImage, parent)
	if err != nil {
		return nil, err
	}
	// The dumps are the last copy of the data when the database volume is
	// gone: kept when the stack goes, and protected wherever the data is.
	c.Volume, err = runtime.NewVolume(ctx, name+"-dumps", runtime.VolumeArgs{
		DockerName: Volume(args.Naming),
		Labels:     args.Naming.ComponentLabels(Key),
		Keep:       args.KeepData,
	}, parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}
	w := runtime.Workload{
		Name:        c.Name,
		ImageSource: args.DatabaseImage,
		Image:       runtime.RunImage(args.Runtime, image),
		Command:     []string{"sh", scripts.Backup, "loop"},
		Env:         s.Env(args.Database, args.Naming.Prefix),
		Files: append(files, runtime.File{
			Path: postgres.SuperuserPasswordFile, Content: pulumi.ToSecret(args.Password).(pulumi.StringOutput), Mode: "0444", Secret: true,
		}),
		Volumes: []runtime.VolumeMount{{Volume: c.Volume.Name, Target: scripts.DumpDir}},
		// Root, which owns the dumps volume and its dumps, with no
		// capability: the dumps are written by their owner.
		Networks:    []pulumi.StringInput{args.Network},
		Labels:      args.Naming.ComponentLabels(Key),
		HealthTest:  []string{"CMD", "sh", scripts.Backup, "health"},
		Settings:    s.ContainerSettings,
		Constraints: args.Constraints,
		// The first dump of a big database takes a while: the release does
		// not wait for it. Its health is for monitoring.
		NoWait: true,
	}
	c.Spec = w.Describe()
	// Dumps start once the database is healthy and the password step has
	// given the superuser its name and password.
	c.Server, err = runtime.Register(ctx, args.Runtime, name, w, parent, pulumi.DependsOn([]pulumi.Resource{args.Database.Server, args.Database.Ready}))
	if err != nil {
		return nil, err
	}
	if s.Offsite.Enabled() {
		c.OffsiteName = args.Naming.Name(Key + "-offsite")
		if c.Offsite, err = newOffsite(ctx, name, c.OffsiteName, s, args, files, c.Volume, parent); err != nil {
			return nil, err
		}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": pulumi.String(c.Name)})
}

// newOffsite registers the copy of the good dumps to object storage. It has
// the storage key as a secret; it needs a way out of the host, so it is on
// no network of the stack. It mounts the backups volume read-write for one
// command only, `offsite.sh fetch` (backupctl fetch): a server that lost its
// dumps gets one back from the bucket through the one container that has
// the aws command and the key. fetch only adds a dump under a name that is
// not there, after checking it; nothing in offsite.sh deletes or rewrites a
// dump.
func newOffsite(ctx *pulumi.Context, name, dockerName string, s Settings, args *Args, files []runtime.File, volume *docker.Volume, parent pulumi.ResourceOption) (pulumi.Resource, error) {
	o := s.Offsite
	image, err := runtime.PullImage(ctx, name+"-offsite-image", o.Image, parent)
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"BACKUP_DIR":         scripts.DumpDir,
		"BACKUP_PREFIX":      args.Naming.Prefix,
		"OFFSITE_URL":        o.URL,
		"OFFSITE_INTERVAL":   strconv.FormatInt(o.Interval.Seconds(), 10),
		"AWS_ACCESS_KEY_ID":  o.AccessKeyID,
		"AWS_DEFAULT_REGION": o.Region,
	}
	if o.Endpoint != "" {
		env["AWS_ENDPOINT_URL"] = o.Endpoint
		// Since 2.23 (January 2025) the aws command sends an upload as
		// aws-chunked with a CRC trailer and no Content-Length, which
		// S3-compatible stores other than AWS's often refuse
		// (MissingContentLength: gofakes3 in the end-to-end run, B2, R2,
		// older MinIO and Ceph). when_required is AWS's own advice for them;
		// each dump is checked against its SHA-256 before a restore anyway.
		env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
		env["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"
	}
	if o.CACertificates.Set() {
		env["AWS_CA_BUNDLE"] = offsiteCAPath
		files = append(slices.Clip(files), o.CACertificates.File(offsiteCAPath))
	}
	settings := s.ContainerSettings
	// Healthy while it runs: a failed copy is logged and retried, and the
	// dumps' own health is the backup container's.
	w := runtime.Workload{
		Name:        dockerName,
		ImageSource: o.Image,
		Image:       runtime.RunImage(args.Runtime, image),
		Entrypoint:  []string{"sh"},
		Command:     []string{scripts.Offsite, "loop"},
		Env:         env,
		SecretEnv:   map[string]pulumi.StringInput{"AWS_SECRET_ACCESS_KEY": args.OffsiteSecretKey},
		Files:       files,
		Volumes:     []runtime.VolumeMount{{Volume: volume.Name, Target: scripts.DumpDir}},
		Labels:      args.Naming.ComponentLabels(Key + "-offsite"),
		HealthTest:  []string{"CMD", "sh", "-c", "kill -0 1"},
		Settings:    settings,
		Constraints: args.Constraints,
		NoWait:      true,
	}
	return runtime.Register(ctx, args.Runtime, name+"-offsite", w, parent)
}

// Part describes the backups to the stack: the backup container and, when
// dumps go off the host, the off-host copy, which has the backup's
// settings too.
func (s Settings) Part() runtime.Part {
	part := runtime.Part{Key: Key, Settings: s.ContainerSettings, Check: s.Check,
		Cost: runtime.FixedCost("its container is replaced: a dump in progress is abandoned (never left half-written), " +
			"and the schedule goes on from the newest good dump; the dumps are kept")}
	switch {
	case !s.Enabled:
		part.Off = true
	case s.Offsite.Enabled():
		part.Count = 2
	default:
		part.Count = 1
	}
	return part
}
