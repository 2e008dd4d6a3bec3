package traefik

import (
	"strings"
	"testing"
)

// The check runs only for text that is there: empty, the default, is the
// system's roots and nothing to check.
func TestTraefikChecksTheACMECAOnlyWhenSet(t *testing.T) {
	s := DefaultSettings()
	if ps := s.Check(); len(ps) != 0 || s.ACME.TrustsPrivateCA() {
		t.Fatalf("default: %v", ps)
	}
	s.ACME.CACertificates = "root.pem"
	ps := s.Check()
	if len(ps) != 1 || ps[0].Key != "acme.caCertificates" || !strings.Contains(ps[0].Msg, `"root.pem" is a file name`) {
		t.Errorf("a file name: %v", ps)
	}
}
