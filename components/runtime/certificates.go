package runtime

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/djangostack/infra/components/problems"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CACertificates is the PEM text of one or more root certificates that a
// client trusts to reach a server of a private CA: an ACME directory of
// step-ca or Pebble, an S3-compatible store behind an internal CA. Text of
// blanks only is as good as empty, as a YAML block left empty is.
type CACertificates string

// Set reports whether any certificate text is there.
func (c CACertificates) Set() bool { return strings.TrimSpace(string(c)) != "" }

// File is the text as it is written into a container: one form whether it
// came from "$(cat root.pem)", which drops the last line break, or a YAML
// block, which keeps it, so that switching between them replaces nothing.
func (c CACertificates) File(path string) File {
	return File{Path: path, Content: pulumi.String(strings.TrimSpace(string(c)) + "\n"), Mode: "0444"}
}

// Check reports what keeps the text from being certificates a TLS client
// can trust at the time now (checkCACertificates), under key.
func (c CACertificates) Check(ps *problems.Problems, key string, now time.Time) {
	if msg := checkCACertificates(string(c), now); msg != "" {
		ps.Add(key, "%s", msg)
	}
}

// pemBegin starts every PEM block.
var pemBegin = []byte("-----BEGIN ")

// isCertificateFileName reports a value that names a certificate's file
// instead of holding its text, the mistake worth a message of its own: one
// word with a certificate file's extension. Base64 has no dot, so such a
// value is never key material, and the message may quote it.
func isCertificateFileName(v string) bool {
	ext := strings.ToLower(path.Ext(v))
	return !strings.ContainsAny(v, " \t\r\n") && slices.Contains([]string{".pem", ".crt", ".cer", ".cert"}, ext)
}

// checkCACertificates reports what keeps PEM text from being one or more
// X.509 certificates that a TLS client can trust at the time now, "" when
// nothing does: text outside the PEM blocks, a block that is no
// certificate, one that does not parse or has expired. Every finding is in
// the one message, so a user fixes a paste in one pass. It never quotes the
// text, since a private key pasted by mistake would then be printed by every
// preview and kept in CI logs: it names the blocks by their number, line
// and PEM type.
func checkCACertificates(text string, now time.Time) string {
	data := []byte(text)
	if !bytes.Contains(data, pemBegin) {
		if value := strings.TrimSpace(text); isCertificateFileName(value) {
			return fmt.Sprintf("%q is a file name: the setting holds the certificate's PEM text (-- \"$(cat %s)\" on the command line)", value, value)
		}
		return "holds no PEM block: set the PEM text of the CA's root certificate (-----BEGIN CERTIFICATE----- ...)"
	}
	lineAt := func(offset int) int { return 1 + bytes.Count(data[:offset], []byte("\n")) }
	var found []string
	blocks := 0
	for off := 0; off < len(data); {
		rest := data[off:]
		start := bytes.Index(rest, pemBegin)
		lead := rest
		if start >= 0 {
			lead = rest[:start]
		}
		if trimmed := bytes.TrimLeft(lead, " \t\r\n"); len(bytes.TrimSpace(trimmed)) > 0 {
			found = append(found, fmt.Sprintf("line %d is not PEM (only -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks may be set)", lineAt(off+len(lead)-len(trimmed))))
		}
		if start < 0 {
			break
		}
		off += start
		line := lineAt(off)
		// Decode one block only: pem.Decode would skip a broken block and
		// return the next one.
		seg := data[off:]
		if next := bytes.Index(seg[1:], pemBegin); next >= 0 {
			seg = seg[:next+1]
		}
		block, after := pem.Decode(seg)
		if block == nil {
			msg := fmt.Sprintf("the PEM block at line %d has no END line, or broken base64 (cut short when pasted?)", line)
			if !bytes.Contains(seg, []byte("\n")) && bytes.Contains(seg, []byte(`\n`)) {
				msg += `; its line breaks are written as \n: set the text with real line breaks`
			}
			found = append(found, msg)
			off += len(seg)
			continue
		}
		off += len(seg) - len(after)
		blocks++
		what := fmt.Sprintf("block %d (line %d)", blocks, line)
		switch {
		case strings.Contains(block.Type, "PRIVATE KEY"):
			found = append(found, fmt.Sprintf("%s is a private key (%q), which must never be in the stack's config: remove it, and replace the key if the config was shared or committed", what, block.Type))
			continue
		case block.Type != "CERTIFICATE":
			found = append(found, fmt.Sprintf("%s is a %q, not a CERTIFICATE", what, block.Type))
			continue
		case len(block.Headers) > 0:
			// Go's x509.CertPool.AppendCertsFromPEM, which Traefik's ACME
			// client reads the file with, skips such a block.
			found = append(found, fmt.Sprintf("%s has PEM headers (%s), with which a TLS client skips the certificate", what, strings.Join(slices.Sorted(maps.Keys(block.Headers)), ", ")))
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			found = append(found, fmt.Sprintf("%s is not an X.509 certificate: %v", what, err))
			continue
		}
		if now.After(cert.NotAfter) {
			found = append(found, fmt.Sprintf("%s, %q, expired on %s: a TLS client does not trust it", what, cert.Subject.String(), cert.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	return strings.Join(found, "; ")
}
