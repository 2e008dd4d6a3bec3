package engine

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		api, want string
		ok        bool
	}{
		{"1.45", "1.44", true},
		{"1.44", "1.44", true},
		{"1.41", "1.44", false},
		{"1.9", "1.44", false},
		{"2.0", "1.44", true},
		{"", "1.44", false},
		{"one.44", "1.44", false},
		{"1.45", "", false},
	} {
		if got := (Version{API: tc.api}).AtLeast(tc.want); got != tc.ok {
			t.Errorf("API %q at least %q: %v, want %v", tc.api, tc.want, got, tc.ok)
		}
	}
}

// Dial asks a daemon over its unix socket; a stand-in daemon answers here.
func TestDialAsksTheDaemonsVersion(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Method+" "+r.URL.Path)
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"Version":"26.1.5+dfsg1","ApiVersion":"1.45","MinAPIVersion":"1.24"}`))
	})}
	go server.Serve(l)
	defer server.Close()

	v, err := Dial{}.Probe(context.Background(), Host{Docker: "unix://" + socket})
	if err != nil {
		t.Fatal(err)
	}
	if v != (Version{API: "1.45", Engine: "26.1.5+dfsg1"}) || !v.AtLeast(StartIntervalAPI) {
		t.Errorf("version %+v", v)
	}
	if !slices.Equal(asked, []string{"GET /version"}) {
		t.Errorf("asked %v", asked)
	}

	for _, host := range []string{"unix://" + filepath.Join(t.TempDir(), "none.sock"), "ftp://server", "::"} {
		if _, err := (Dial{}).Probe(context.Background(), Host{Docker: host}); err == nil {
			t.Errorf("%s: no error", host)
		}
	}
}

func TestAskReadsOnlyAVersion(t *testing.T) {
	for _, tc := range []struct{ answer, err string }{
		{"HTTP/1.1 200 OK\r\nContent-Length: 29\r\n\r\n{\"Version\":\"20.10.24\",\"x\":1}\n", "no API version"},
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "403"},
		{"SSH-2.0-OpenSSH\r\n", "reading the daemon's answer"},
	} {
		var sent strings.Builder
		_, err := Ask(&sent, strings.NewReader(tc.answer))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("answer %q: error %v, want %q", tc.answer, err, tc.err)
		}
		if !strings.HasPrefix(sent.String(), "GET /version HTTP/1.1\r\n") {
			t.Errorf("sent %q", sent.String())
		}
	}
}

// Over ssh, the stack's options come first, as the Docker provider and
// backupctl give them, then what the docker CLI's connection helper runs.
func TestSSHArgs(t *testing.T) {
	u, _ := url.Parse("ssh://deploy@203.0.113.10:2222")
	got := SSHArgs(u, []string{"-i", "/home/ci/.ssh/deploy", "-o", "StrictHostKeyChecking=yes"})
	want := []string{"-i", "/home/ci/.ssh/deploy", "-o", "StrictHostKeyChecking=yes", "-l", "deploy", "-p", "2222",
		"-o", "ConnectTimeout=10", "-T", "--", "203.0.113.10", "docker", "system", "dial-stdio"}
	if !slices.Equal(got, want) {
		t.Errorf("ssh %q\nwant %q", got, want)
	}
}
