package components

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// frame is one write of a container as Docker's multiplexed log stream
// carries it: the 8-byte header, then the payload.
func frame(stream byte, payload string) string {
	h := make([]byte, streamHeaderLen, streamHeaderLen+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return string(append(h, payload...))
}

// asTheProviderReads is what the docker provider keeps of a log stream as
// containerLogs (resource_docker_container_funcs.go): each line of a
// bufio.Scanner, then a newline.
func asTheProviderReads(stream string) string {
	var b strings.Builder
	s := bufio.NewScanner(strings.NewReader(stream))
	for s.Scan() {
		b.WriteString(s.Text())
		b.WriteString("\n")
	}
	return b.String()
}

func TestStreamHeadersAreStrippedFromAJobsOutput(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		want   string
	}{
		{"a line per write, on both streams",
			frame(1, "migrations: attempt 1 of 3\n") + frame(2, "django.db.utils.OperationalError: could not translate host name\n") +
				frame(2, "migrations: failed after 3 attempts\n"),
			"migrations: attempt 1 of 3\ndjango.db.utils.OperationalError: could not translate host name\nmigrations: failed after 3 attempts\n"},
		// The strays of issue 22: the size bytes '<' (60), 'i' (105), '`'
		// (96) and '$' (36) at the start of the lines.
		{"sizes that print as characters",
			frame(1, strings.Repeat("a", 59)+"\n") + frame(1, strings.Repeat("b", 104)+"\n") +
				frame(2, strings.Repeat("c", 95)+"\n") + frame(2, strings.Repeat("d", 35)+"\n"),
			strings.Repeat("a", 59) + "\n" + strings.Repeat("b", 104) + "\n" + strings.Repeat("c", 95) + "\n" + strings.Repeat("d", 35) + "\n"},
		// A 10-byte write: its size byte is a newline, where the provider
		// cuts the header in two lines.
		{"a size byte that is a newline",
			frame(1, "attempt 1\n") + frame(1, "attempt 2\n"),
			"attempt 1\nattempt 2\n"},
		{"a line made of several writes",
			frame(1, "Applying core.0002_note") + frame(1, "...") + frame(1, " OK\n"),
			"Applying core.0002_note... OK\n"},
		{"several lines in one write",
			frame(1, "Operations to perform:\n  Apply all migrations: core\nRunning migrations:\n"),
			"Operations to perform:\n  Apply all migrations: core\nRunning migrations:\n"},
		{"a last line without a newline", frame(2, "postgres: not accepting connections 100 s after the step began"),
			"postgres: not accepting connections 100 s after the step began\n"},
		{"an empty write", frame(1, "") + frame(1, "done\n"), "done\n"},
		{"a frame of 8 KiB, as Python's buffered stdout writes",
			frame(1, strings.Repeat("0123456789abcde\n", 512)), strings.Repeat("0123456789abcde\n", 512)},
		{"stdin's and Docker's own streams", frame(0, "in\n") + frame(3, "docker: oci runtime error\n"), "in\ndocker: oci runtime error\n"},
		{"no output", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := asTheProviderReads(c.stream)
			if got := stripStreamHeaders(logs); got != c.want {
				t.Errorf("stripStreamHeaders(%q)\n got %q\nwant %q", logs, got, c.want)
			}
		})
	}
}

func TestTextWithoutStreamHeadersIsKept(t *testing.T) {
	for _, text := range []string{
		"",
		"plain\n",
		"migrations: attempt 1 of 3\r\ntabs\tand ünïcode ✓\n",
		"\x01\x02\x03 control bytes but no zero byte\n",
		"a zero byte \x00 that starts no header\n",
		"\x01\x00\x00 three bytes short of a header",
	} {
		if got := stripStreamHeaders(text); got != text {
			t.Errorf("stripStreamHeaders(%q) = %q, want it unchanged", text, got)
		}
	}
}

// A header that the removal of another would join together goes too.
func TestAHeaderJoinedByARemovalIsStripped(t *testing.T) {
	in := "\x01\x00" + frame(1, "") + "\x00\x00abcd tail"
	if got := stripStreamHeaders(in); hasStreamHeader(got) || got != " tail" {
		t.Errorf("stripStreamHeaders(%q) = %q", in, got)
	}
}

func hasStreamHeader(s string) bool {
	for i := 0; i+streamHeaderLen <= len(s); i++ {
		if isStreamHeader([]byte(s[i:])) {
			return true
		}
	}
	return false
}

func FuzzStripStreamHeaders(f *testing.F) {
	f.Add([]byte("migrations: attempt 1 of 3\n"), byte(7))
	f.Add([]byte(frame(1, "attempt 1\n")+frame(2, "x")), byte(10))
	f.Add([]byte("\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00abcd"), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk byte) {
		// Any input: no panic, and no header left.
		out := stripStreamHeaders(string(data))
		if hasStreamHeader(out) {
			t.Fatalf("stripStreamHeaders(%q) = %q holds a header", data, out)
		}
		if len(out) > len(data) {
			t.Fatalf("stripStreamHeaders(%q) = %q is longer", data, out)
		}
		// Text (no zero byte) comes back as it is.
		if bytes.IndexByte(data, 0) < 0 && out != string(data) {
			t.Fatalf("stripStreamHeaders(%q) = %q changed a text", data, out)
		}
		// The same text written in frames of a few bytes and read as the
		// provider reads the stream: the text as the provider reads it. The
		// provider drops the \r of each \r\n it sees, and may see one where a
		// size byte is \r (13): a text without \r, in frames of other sizes.
		// Bytes 0 to 3 are no text's: one right before a header would pass
		// for its stream byte.
		text := strings.NewReplacer("\x00", "", "\x01", "", "\x02", "", "\x03", "", "\r", "").Replace(string(data))
		size := int(chunk%64) + 1
		var stream strings.Builder
		for rest := text; rest != ""; {
			n := min(size, len(rest))
			if n == 13 {
				n = 12
			}
			stream.WriteString(frame(chunk%3, rest[:n]))
			rest = rest[n:]
		}
		if got, want := stripStreamHeaders(asTheProviderReads(stream.String())), asTheProviderReads(text); got != want {
			t.Fatalf("text %q in frames of %d bytes: got %q, want %q", text, size, got, want)
		}
	})
}
