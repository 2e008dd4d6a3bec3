package runtime

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testRoot is a self-signed CA certificate valid from notBefore to
// notAfter, in PEM, and its private key in PEM.
func testRoot(t *testing.T, name string, notBefore, notAfter time.Time) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func TestCheckCACertificates(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	root, key := testRoot(t, "Test Root", now.AddDate(-1, 0, 0), now.AddDate(10, 0, 0))
	second, _ := testRoot(t, "Second Root", now.AddDate(-1, 0, 0), now.AddDate(10, 0, 0))
	expired, _ := testRoot(t, "Old Root", now.AddDate(-3, 0, 0), now.AddDate(0, -1, 0))
	keyLine := strings.Split(key, "\n")[1]
	// after is the line that follows a root's PEM text.
	after := strings.Count(root, "\n") + 1
	broken := strings.Replace(root, strings.Split(root, "\n")[2], "!!!!", 1)
	csr := "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
	notDER := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	withHeaders := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Note": "x"}, Bytes: []byte("x")}))
	for _, c := range []struct {
		name, text string
		want       []string // each in the message; none: no problem
	}{
		{"one root", root, nil},
		{"two roots, CRLF line ends, blank lines around", "\r\n" + strings.ReplaceAll(root, "\n", "\r\n") + "\n\n" + second + "\n", nil},
		{"without the last line break", strings.TrimSuffix(root, "\n"), nil},
		{"blanks only", " \n\t\n", []string{"holds no PEM block"}},
		{"a file name", "/etc/ssl/root.pem", []string{`"/etc/ssl/root.pem" is a file name`, `"$(cat /etc/ssl/root.pem)"`}},
		{"a word", "yes", []string{"holds no PEM block"}},
		{"a private key", key, []string{`block 1 (line 1) is a private key ("PRIVATE KEY")`}},
		{"a root and its key", root + key, []string{fmt.Sprintf("block 2 (line %d) is a private key", after)}},
		{"text after the certificate", root + "garbage\n", []string{fmt.Sprintf("line %d is not PEM", after)}},
		{"text before and after", "subject=CN = Test Root\n" + root + "\n  trailing", []string{"line 1 is not PEM", fmt.Sprintf("line %d is not PEM", after+2)}},
		{"broken base64, then a good root", broken + second, []string{"the PEM block at line 1 has no END line, or broken base64"}},
		{"no END line", strings.Split(root, "-----END")[0], []string{"the PEM block at line 1 has no END line"}},
		{"line breaks written as \\n", strings.ReplaceAll(root, "\n", `\n`), []string{`its line breaks are written as \n`}},
		{"a certificate request", csr, []string{`block 1 (line 1) is a "CERTIFICATE REQUEST", not a CERTIFICATE`}},
		{"not DER", notDER, []string{"block 1 (line 1) is not an X.509 certificate: x509: "}},
		{"PEM headers", withHeaders, []string{"has PEM headers (Note)"}},
		{"expired, after a good one", root + expired, []string{fmt.Sprintf(`block 2 (line %d), "CN=Old Root", expired on 2026-11-01`, after)}},
		{"every problem at once", "junk\n" + key + csr + expired, []string{"line 1 is not PEM", "block 1 (line 2) is a private key", "block 2", "block 3", "expired"}},
	} {
		got := checkCACertificates(c.text, now)
		if len(c.want) == 0 && got != "" {
			t.Errorf("%s: %s", c.name, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.name, got, w)
			}
		}
		if strings.Contains(got, keyLine) || strings.Contains(got, "MII") {
			t.Errorf("%s: the message quotes the PEM text: %s", c.name, got)
		}
	}
}
