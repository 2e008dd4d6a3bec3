package problems

import "testing"

func TestJoinKey(t *testing.T) {
	for _, c := range []struct{ prefix, key, want string }{
		{"postgres", "tuning.workMem", "postgres.tuning.workMem"},
		{"backend.cors", "allowedOrigins[2]", "backend.cors.allowedOrigins[2]"},
		{"backend.env", "[x]", "backend.env.[x]"},
		{"backendSecrets", "", "backendSecrets."},
		{"", "tls", "tls"},
	} {
		if got := JoinKey(c.prefix, c.key); got != c.want {
			t.Errorf("JoinKey(%q, %q) = %q, want %q", c.prefix, c.key, got, c.want)
		}
	}
}
