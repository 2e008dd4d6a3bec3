package units

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/djangostack/infra/components/problems"
)

// The parsers below check names rather than quantities: domains, origins,
// image references and ports. Like the quantity parsers, each error quotes
// the value and says what would be accepted; the caller adds the key.

var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// ParseDomain checks a host name as the site's domains are written: no
// scheme, port or path.
func ParseDomain(text string) (string, error) {
	if len(text) > 253 || !domainName.MatchString(text) {
		return "", fmt.Errorf("%q is not a domain name (e.g. example.com; no scheme, port or path)", text)
	}
	return strings.ToLower(text), nil
}

// Origin is a CORS origin: a scheme, a host and an optional port, exactly as
// a browser sends it in the Origin header.
type Origin struct {
	Scheme string
	Host   string
	Port   int
}

func (o Origin) String() string {
	if o.Port == 0 {
		return o.Scheme + "://" + o.Host
	}
	return fmt.Sprintf("%s://%s:%d", o.Scheme, o.Host, o.Port)
}

// ParseOrigin reads a CORS origin. A path, even a lone trailing slash, never
// matches the Origin header a browser sends, so it is refused.
func ParseOrigin(text string) (Origin, error) {
	bad := fmt.Errorf("%q is not an origin (scheme and host, optional port; no path or trailing slash: https://example.com, http://localhost:8080)", text)
	u, err := url.Parse(text)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(text, "?") || strings.HasSuffix(text, "#") {
		return Origin{}, bad
	}
	host := u.Hostname()
	if net.ParseIP(host) == nil {
		if _, err := ParseDomain(host); err != nil {
			return Origin{}, bad
		}
	}
	o := Origin{Scheme: u.Scheme, Host: strings.ToLower(host)}
	if p := u.Port(); p != "" {
		if o.Port, err = ParsePort(p); err != nil {
			return Origin{}, bad
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return Origin{}, bad
	}
	return o, nil
}

// ParsePort reads a TCP port, 1-65535.
func ParsePort(text string) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", text)
	}
	return n, nil
}

// CheckPort reports a port out of range at key.
func CheckPort(ps *problems.Problems, key string, port int) {
	if _, err := ParsePort(strconv.Itoa(port)); err != nil {
		ps.Add(key, "%d is not a port (1-65535)", port)
	}
}

// ImageRef is a Docker image reference: repository, tag and digest.
type ImageRef struct {
	// Repository is the name as Docker prints it: "postgres",
	// "registry.example.com/team/app".
	Repository string
	Tag        string
	Digest     string
}

// ParseImageRef reads an image reference such as postgres:16-alpine or
// registry.example.com/team/app:1.4.2@sha256:…, the way Docker does
// (github.com/distribution/reference). Docker reads a first path component
// with upper-case letters as a registry host ("UPPER/app:1" is the image
// app on the host UPPER), which no one means: that is refused too.
func ParseImageRef(text string) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return ImageRef{}, fmt.Errorf("%q is not an image reference (Docker: %v; e.g. postgres:16-alpine, registry.example.com/app:1.4.2, app@sha256:<digest>)", text, err)
	}
	if first, _, ok := strings.Cut(text, "/"); ok && reference.Domain(named) == first &&
		first != "localhost" && !strings.ContainsAny(first, ".:") {
		return ImageRef{}, fmt.Errorf("%q is not an image reference: Docker reads %q as a registry host, because it has upper-case letters, and the pull fails; "+
			"repository names are lower case (%s), and a registry host has a dot or a port (registry.example.com/app:1.4.2)", text, first, strings.ToLower(text))
	}
	ref := ImageRef{Repository: reference.FamiliarName(named)}
	if t, ok := named.(reference.Tagged); ok {
		ref.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		ref.Digest = d.Digest().String()
	}
	return ref, nil
}

// Pinned is true for a digest or a tag other than latest: what a deploy
// of the same config pulls again tomorrow.
func (r ImageRef) Pinned() bool {
	return r.Digest != "" || (r.Tag != "" && r.Tag != "latest")
}

// CheckImage reports an image reference that is empty or malformed.
func CheckImage(ps *problems.Problems, key, ref string) {
	if ref == "" {
		ps.Add(key, "must be set (an image reference such as postgres:16-alpine)")
	} else if _, err := ParseImageRef(ref); err != nil {
		ps.Add(key, "%v", err)
	}
}
