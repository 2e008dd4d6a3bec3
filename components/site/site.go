package site

import (
	"fmt"
	"strings"
)

// Site is the public face of a deployment: the names it answers on and
// whether it speaks TLS. Traefik's routers, the backend's ALLOWED_HOSTS and
// the stack's URLs all derive from it.
type Site struct {
	// Domains the site answers on; the first is canonical.
	Domains []string
	// TLS serves the site over https on the websecure entrypoint.
	TLS bool
	// Port is the public port when it is not the scheme's default (0 then).
	Port int
}

// Scheme is https with TLS, else http.
func (s Site) Scheme() string {
	if s.TLS {
		return "https"
	}
	return "http"
}

// Origins are the site's own origins ("https://example.com",
// "http://localhost:8080").
func (s Site) Origins() []string {
	port := ""
	if s.Port != 0 {
		port = fmt.Sprintf(":%d", s.Port)
	}
	out := make([]string, len(s.Domains))
	for i, d := range s.Domains {
		out[i] = s.Scheme() + "://" + d + port
	}
	return out
}

// URLs are the site's home pages, one per domain.
func (s Site) URLs() []string {
	out := s.Origins()
	for i := range out {
		out[i] += "/"
	}
	return out
}

// EntryPoint is the Traefik entrypoint the site's routers listen on.
func (s Site) EntryPoint() string {
	if s.TLS {
		return "websecure"
	}
	return "web"
}

// HostRule is the Traefik rule matching any of the site's domains.
func (s Site) HostRule() string {
	hosts := make([]string, len(s.Domains))
	for i, d := range s.Domains {
		hosts[i] = fmt.Sprintf("Host(`%s`)", d)
	}
	return strings.Join(hosts, " || ")
}
