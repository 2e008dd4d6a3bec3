package edge

import "slices"

// Cloudflare's published address ranges: every connection Cloudflare's proxy
// makes to an origin comes from one of them. As published at
// https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6
// (and by Cloudflare's API, https://api.cloudflare.com/client/v4/ips), in
// their published order. Taken on 2026-12-05 from copies of those lists,
// since the machines that build this program cannot reach cloudflare.com:
// copies dated from October 2023 to May 2026 (one a mirror that fetches
// them daily, on 2026-02-11) all hold exactly these. Cloudflare changes
// them rarely and announces it beforehand; a new range missing here makes
// the requests Cloudflare sends from it look as if that edge address were
// the client, never the other way round. Refresh both lists and the date
// together.
var (
	cloudflareIPv4 = []string{
		"173.245.48.0/20",
		"103.21.244.0/22",
		"103.22.200.0/22",
		"103.31.4.0/22",
		"141.101.64.0/18",
		"108.162.192.0/18",
		"190.93.240.0/20",
		"188.114.96.0/20",
		"197.234.240.0/22",
		"198.41.128.0/17",
		"162.158.0.0/15",
		"104.16.0.0/13",
		"104.24.0.0/14",
		"172.64.0.0/13",
		"131.0.72.0/22",
	}
	cloudflareIPv6 = []string{
		"2400:cb00::/32",
		"2606:4700::/32",
		"2803:f800::/32",
		"2405:b500::/32",
		"2405:8100::/32",
		"2a06:98c0::/29",
		"2c0f:f248::/32",
	}
)

// CloudflareRanges are Cloudflare's published IPv4 and IPv6 ranges, CIDR
// notation, IPv4 first: a fresh slice each call.
func CloudflareRanges() []string {
	return slices.Concat(cloudflareIPv4, cloudflareIPv6)
}

// ProxyRanges are the addresses whose X-Forwarded-For the site's Traefik
// may believe: Cloudflare's ranges when the stack's records are proxied
// (a zone is set and proxied is on), none otherwise.
func (s Settings) ProxyRanges() []string {
	if !s.Enabled() || !s.Proxied {
		return nil
	}
	return CloudflareRanges()
}
