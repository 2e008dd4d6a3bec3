package stacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestTheFingerprintKeyIsReadBackOnlyWhenItIsOne(t *testing.T) {
	key := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"the key", key, key},
		{"a longer key", key + "cd", key + "cd"},
		{"none", nil, ""},
		{"too short", key[:62], ""},
		{"not hex", strings.Repeat("zz", 32), ""},
		{"not text", map[string]any{"key": key}, ""},
	} {
		if got := hex.EncodeToString(fingerprintKey(c.v)); got != c.want {
			t.Errorf("%s: fingerprintKey = %q, want %q", c.name, got, c.want)
		}
	}
	if a, b := newFingerprintKey(), newFingerprintKey(); len(a) != 32 || hex.EncodeToString(a) == hex.EncodeToString(b) {
		t.Errorf("newFingerprintKey: %x, %x", a, b)
	}
}

// The revision of the app's secrets is an HMAC-SHA256 under the stack's
// key, 48 bits of it: not the unkeyed digest anyone could compute.
func TestTheAppSecretsRevisionIsAnHMAC(t *testing.T) {
	p := Base()
	p.Credentials.BackendSecrets = map[string]string{"SENTRY_DSN": "https://k@sentry.example.com/1", "PIN": "1234"}
	key := []byte("0123456789abcdef0123456789abcdef")
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "PIN=%q\nSENTRY_DSN=%q\n", "1234", "https://k@sentry.example.com/1")
	want := fmt.Sprintf("app=%x", mac.Sum(nil)[:6])
	got := secretsRevision(p, key)
	if !strings.HasSuffix(got, " "+want) {
		t.Errorf("secretsRevision = %q, want it to end with %q", got, want)
	}
	unkeyed := sha256.Sum256([]byte(fmt.Sprintf("PIN=%q\nSENTRY_DSN=%q\n", "1234", "https://k@sentry.example.com/1")))
	if strings.Contains(got, hex.EncodeToString(unkeyed[:6])) {
		t.Errorf("secretsRevision %q is the unkeyed digest", got)
	}
	if other := secretsRevision(p, []byte("another key of thirty-two bytes!")); other == got {
		t.Errorf("two keys give the same revision %q", got)
	}
	p.Credentials.BackendSecrets = nil
	if got := secretsRevision(p, key); strings.Contains(got, "app=") {
		t.Errorf("a stack without app secrets: %q", got)
	}
}
