// Package edge puts Cloudflare in front of a deployment: DNS records for the
// site's domains and, in the stack that owns the zone, the zone-wide TLS
// settings. It is the only package that imports the Cloudflare SDK, which is
// very large to compile: nothing else pays for it.
package edge

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/djangostack/infra/components/problems"
	"github.com/djangostack/infra/components/traefik"
	"github.com/djangostack/infra/components/units"
	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Settings are the stack's Cloudflare zone and what it holds for the site.
type Settings struct {
	// ZoneID is the Cloudflare zone holding the site's domains (default
	// none: no Cloudflare resource at all, and no Cloudflare plugin needed).
	ZoneID string `json:"zoneId"`
	// Addresses are the Docker host's public IPv4 and IPv6 addresses that the
	// site's records point at.
	Addresses []string `json:"addresses"`
	// Proxied sends the site's traffic through Cloudflare, and has Traefik
	// believe the X-Forwarded-For of Cloudflare's published ranges
	// (pinned in components/edge/ranges.go) and of no other address.
	Proxied bool `json:"proxied"`
	// ManageZone applies Zone's settings to the whole zone: only the stack that
	// owns the zone may.
	ManageZone bool `json:"manageZone"`
	// Zone are the zone-wide TLS settings.
	Zone ZoneSettings `json:"zone"`
}

// ZoneSettings are the zone-wide TLS settings of the stack that owns the zone.
type ZoneSettings struct {
	// SSL is the encryption mode between Cloudflare and the origin (default
	// strict: Traefik's certificate must be valid).
	SSL string `json:"ssl"`
	// AlwaysUseHTTPS redirects plain http at Cloudflare's edge.
	AlwaysUseHTTPS bool `json:"alwaysUseHttps"`
	// MinTLSVersion is the oldest TLS version visitors may use.
	MinTLSVersion string `json:"minTlsVersion"`
	// TLS13 enables TLS 1.3.
	TLS13 bool `json:"tls13"`
	// HTTP3 enables HTTP/3 over QUIC at the edge.
	HTTP3 bool `json:"http3"`
	// Brotli compresses responses with Brotli at the edge.
	Brotli bool `json:"brotli"`
	// HSTS is the Strict-Transport-Security header Cloudflare adds.
	HSTS traefik.HSTS `json:"hsts"`
}

// DefaultSettings are Cloudflare's side of the guide's security settings:
// full strict TLS, https only, TLS 1.2 at least, TLS 1.3, HTTP/3, Brotli, and
// a one-year HSTS header with subdomains and preload. No zone is set: a stack
// without one registers nothing at Cloudflare.
func DefaultSettings() Settings {
	return Settings{
		Proxied:    true,
		ManageZone: true,
		Zone: ZoneSettings{
			SSL:            "strict",
			AlwaysUseHTTPS: true,
			MinTLSVersion:  "1.2",
			TLS13:          true,
			HTTP3:          true,
			Brotli:         true,
			HSTS:           traefik.GuideHSTS(),
		},
	}
}

// Enabled reports whether the stack has a zone, and so any Cloudflare resource.
func (s Settings) Enabled() bool { return s.ZoneID != "" }

var zoneID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Check reports settings Cloudflare would refuse.
func (s Settings) Check() problems.Problems {
	var ps problems.Problems
	if !s.Enabled() {
		return ps
	}
	if !zoneID.MatchString(s.ZoneID) {
		ps.Add("zoneId", "%q is not a Cloudflare zone id (32 hexadecimal characters, on the zone's Overview page)", s.ZoneID)
	}
	if len(s.Addresses) == 0 {
		ps.Add("addresses", "must list the host's public IP addresses for the site's DNS records (e.g. [203.0.113.10])")
	}
	for i, a := range s.Addresses {
		if ip := net.ParseIP(a); ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() {
			ps.Add(fmt.Sprintf("addresses[%d]", i), "%q is not a public IP address", a)
		}
	}
	switch s.Zone.SSL {
	case "off", "flexible", "full", "strict":
	default:
		ps.Add("zone.ssl", "%q is not an SSL mode (one of strict, full, flexible, off)", s.Zone.SSL)
	}
	switch s.Zone.MinTLSVersion {
	case "1.0", "1.1", "1.2", "1.3":
	default:
		ps.Add("zone.minTlsVersion", "%q is not a TLS version (one of 1.0, 1.1, 1.2, 1.3)", s.Zone.MinTLSVersion)
	}
	return ps
}

// Record is one DNS record the edge registers.
type Record struct {
	Name    string
	Type    string
	Content string
}

// Records are the site's DNS records: one A (IPv4) or AAAA (IPv6) record per
// domain and address.
func Records(domains, addresses []string) []Record {
	var out []Record
	for _, d := range domains {
		for _, a := range addresses {
			typ := "A"
			if ip := net.ParseIP(a); ip != nil && ip.To4() == nil {
				typ = "AAAA"
			}
			out = append(out, Record{Name: d, Type: typ, Content: a})
		}
	}
	return out
}

// Args are the inputs of an Edge component.
type Args struct {
	// Settings of the zone; Settings.Enabled() must be true.
	Settings Settings
	// Domains are the site's domains, each given a record.
	Domains []string
	// APIToken authenticates the Cloudflare provider (secret).
	APIToken pulumi.StringInput
	// Comment tags the records so a person in Cloudflare's dashboard knows
	// which stack owns them.
	Comment string
}

// Edge is the site's DNS records and, when the stack owns the zone, the
// zone's TLS settings, through a provider of its own.
type Edge struct {
	pulumi.ResourceState

	Records []*cloudflare.Record
	// Zone is nil unless the stack manages the zone's settings.
	Zone *cloudflare.ZoneSettingsOverride
}

// New registers the edge.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Edge, error) {
	if args == nil || args.APIToken == nil || !args.Settings.Enabled() || len(args.Domains) == 0 {
		return nil, errors.New("edge: args with a zone, domains and an API token are required")
	}
	if err := args.Settings.Check().Err(); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	s := args.Settings
	c := &Edge{}
	if err := ctx.RegisterComponentResource("django-stack:components:Edge", name, c, opts...); err != nil {
		return nil, err
	}
	// An explicit provider: the token comes from this stack's config and
	// nothing else in the program can use Cloudflare by accident.
	provider, err := cloudflare.NewProvider(ctx, name+"-cloudflare", &cloudflare.ProviderArgs{
		ApiToken: pulumi.ToSecret(args.APIToken).(pulumi.StringOutput),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	children := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.Provider(provider)}
	for _, r := range Records(args.Domains, s.Addresses) {
		record, err := cloudflare.NewRecord(ctx, fmt.Sprintf("%s-%s-%s-%s", name, r.Name, strings.ToLower(r.Type), r.Content), &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(s.ZoneID),
			Name:    pulumi.String(r.Name),
			Type:    pulumi.String(r.Type),
			Content: pulumi.String(r.Content),
			Proxied: pulumi.Bool(s.Proxied),
			// 1 is Cloudflare's "automatic", the only TTL a proxied record has.
			Ttl:     pulumi.Int(1),
			Comment: pulumi.String(args.Comment),
		}, children...)
		if err != nil {
			return nil, err
		}
		c.Records = append(c.Records, record)
	}
	if s.ManageZone {
		z := s.Zone
		c.Zone, err = cloudflare.NewZoneSettingsOverride(ctx, name+"-zone", &cloudflare.ZoneSettingsOverrideArgs{
			ZoneId: pulumi.String(s.ZoneID),
			Settings: &cloudflare.ZoneSettingsOverrideSettingsArgs{
				Ssl:            pulumi.String(z.SSL),
				AlwaysUseHttps: pulumi.String(units.OnOff(z.AlwaysUseHTTPS)),
				MinTlsVersion:  pulumi.String(z.MinTLSVersion),
				Tls13:          pulumi.String(units.OnOff(z.TLS13)),
				Http3:          pulumi.String(units.OnOff(z.HTTP3)),
				Brotli:         pulumi.String(units.OnOff(z.Brotli)),
				SecurityHeader: &cloudflare.ZoneSettingsOverrideSettingsSecurityHeaderArgs{
					Enabled:           pulumi.Bool(z.HSTS.MaxAge > 0),
					MaxAge:            pulumi.Int(int(z.HSTS.MaxAge.Seconds())),
					IncludeSubdomains: pulumi.Bool(z.HSTS.IncludeSubdomains),
					Preload:           pulumi.Bool(z.HSTS.Preload),
					Nosniff:           pulumi.Bool(true),
				},
			},
		}, children...)
		if err != nil {
			return nil, err
		}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{})
}
