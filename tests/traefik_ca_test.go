package tests

// traefik.acme.caCertificates: the roots of a private ACME CA (step-ca, an
// internal CA, Pebble in the end-to-end test) that Traefik trusts to reach
// the CA's directory. Bad values are rows of the bad-config table; here,
// what a good value renders on both runtimes, and when it only warns.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testCA is a private CA's root certificate, another one, an expired one
// and the root's private key, in PEM, made once for the tests.
var testCA = newTestCA()

type testCAFiles struct {
	root, second, expired, key string
	// keyLine is a line of the key's base64: no message may hold it.
	keyLine string
}

func newTestCA() testCAFiles {
	now := time.Now()
	root, key := newTestRoot("Test Root CA", now.AddDate(0, 0, -1), now.AddDate(10, 0, 0))
	second, _ := newTestRoot("Second Test Root CA", now.AddDate(0, 0, -1), now.AddDate(10, 0, 0))
	expired, _ := newTestRoot("Old Test Root CA", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	return testCAFiles{root: root, second: second, expired: expired, key: key, keyLine: strings.Split(key, "\n")[1]}
}

// newTestRoot is a self-signed CA certificate and its key, in PEM.
func newTestRoot(name string, notBefore, notAfter time.Time) (certPEM, keyPEM string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// The path of the roots in Traefik's container, and a Pebble directory.
const (
	acmeCAPath   = "/etc/traefik/acme-ca.pem"
	testCAServer = "https://pebble:14000/dir"
	acmeKey      = "traefik.acme.caCertificates"
)

// withPrivateCA sets a private CA's directory and roots on a config.
func withPrivateCA(cfg map[string]any, roots string) map[string]any {
	cfg = setPath(cfg, "traefik.acme.caServer", testCAServer)
	return setPath(cfg, acmeKey, roots)
}

// checkStaticTrustsTheCA checks that a rendered traefik.yml names the roots'
// file, keeps the system's roots, and is still valid Traefik v3.
func checkStaticTrustsTheCA(t *testing.T, what, text string) {
	t.Helper()
	doc, err := parseTraefikStatic(text)
	if err != nil {
		t.Fatal(err)
	}
	acme := asMap(at(doc, "certificatesResolvers.letsencrypt.acme"))
	if !reflect.DeepEqual(acme["caCertificates"], []any{acmeCAPath}) || acme["caSystemCertPool"] != true || acme["caServer"] != testCAServer {
		t.Errorf("%s: acme = %v, want caCertificates [%s], caSystemCertPool true, caServer %s", what, acme, acmeCAPath, testCAServer)
	}
	static, _ := traefikSchemas(t)
	if err := static.check(doc); err != nil {
		t.Errorf("%s: traefik.yml is not valid Traefik v3:\n%v", what, err)
	}
}

func TestTraefikTrustsAPrivateACMECA(t *testing.T) {
	// Two roots, written as a YAML block keeps them: with the last line
	// break, which the file keeps too.
	roots := testCA.root + testCA.second
	r := deployOK(t, "production", withPrivateCA(baseConfig(t, "production"), roots))
	if hasKey(r.warnings, acmeKey) {
		t.Errorf("warnings: %v", r.warnings)
	}
	tr := r.container("traefik")
	content, secret, ok := tr.upload(acmeCAPath)
	if !ok || content != roots || secret {
		t.Errorf("traefik gets %s: %v (secret %v), want the roots as plain text:\n%s", acmeCAPath, ok, secret, content)
	}
	static, _, _ := tr.upload("/etc/traefik/traefik.yml")
	checkStaticTrustsTheCA(t, "container", static)

	// "$(cat root.pem)" drops the last line break: the same file.
	r = deployOK(t, "production", withPrivateCA(baseConfig(t, "production"), strings.TrimSuffix(testCA.root, "\n")))
	if content, _, _ := r.container("traefik").upload(acmeCAPath); content != testCA.root {
		t.Errorf("without the last line break: %q, want %q", content, testCA.root)
	}

	// A swarm service gets the file as a Docker config, as it gets its
	// configuration.
	r = deployOK(t, "production", withPrivateCA(swarmConfig(t), roots))
	var files []string
	for _, c := range asSlice(asMap(asMap(r.service("traefik").input("taskSpec"))["containerSpec"])["configs"]) {
		files = append(files, asMap(c)["fileName"].(string))
	}
	if !sameSet(files, []string{"/etc/traefik/traefik.yml", "/etc/traefik/dynamic.yml", acmeCAPath}) {
		t.Errorf("swarm traefik configs = %v", files)
	}
	for _, c := range r.all(typeServiceConfig) {
		switch {
		case strings.HasPrefix(c.Name, "traefik-acme-ca"):
			if got := decodeBase64(t, c.str("data")); got != roots {
				t.Errorf("swarm %s holds %q, want the roots", c.Name, got)
			}
		case strings.HasPrefix(c.Name, "traefik-traefik"):
			checkStaticTrustsTheCA(t, "swarm", decodeBase64(t, c.str("data")))
		}
	}
}

// Unset, the default, renders nothing: no file, no option (the golden
// snapshots hold that too).
func TestTraefikTrustsTheSystemRootsByDefault(t *testing.T) {
	r := deployOK(t, "production", baseConfig(t, "production"))
	if _, _, ok := r.container("traefik").upload(acmeCAPath); ok {
		t.Errorf("traefik gets %s by default", acmeCAPath)
	}
	acme := asMap(at(traefikStatic(t, r), "certificatesResolvers.letsencrypt.acme"))
	for _, k := range []string{"caCertificates", "caSystemCertPool"} {
		if _, set := acme[k]; set {
			t.Errorf("acme.%s is set by default: %v", k, acme)
		}
	}
}

// Roots that Traefik would never use warn, in every stack (nothing breaks),
// and Traefik gets no file it would not read.
func TestPrivateACMECARootsWithNoUseWarn(t *testing.T) {
	for _, c := range []struct {
		name, stack string
		cfg         map[string]any
		want        string
	}{
		{"tls off", "local", withPrivateCA(baseConfig(t, "local"), testCA.root), "has no effect: tls is false"},
		{"no caServer", "production", setPath(baseConfig(t, "production"), acmeKey, testCA.root), "has no effect: traefik.acme.caServer is empty"},
	} {
		r := deployOK(t, c.stack, c.cfg)
		if !strings.Contains(fmt.Sprint(r.warnings), acmeKey+": "+c.want) {
			t.Errorf("%s: warnings %v, want %q", c.name, r.warnings, c.want)
		}
		if _, _, uploaded := r.container("traefik").upload(acmeCAPath); uploaded != (c.stack == "production") {
			t.Errorf("%s: %s uploaded: %v", c.name, acmeCAPath, uploaded)
		}
	}
}
