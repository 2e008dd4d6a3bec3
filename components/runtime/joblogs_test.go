package runtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

// frame is one write of a container as Docker's multiplexed log stream
// carries it: the 8-byte header, then the payload.
func frame(stream byte, payload string) string {
	h := make([]byte, 8, 8+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return string(append(h, payload...))
}

// asTheProgramGets is what the program gets of a log stream as the
// container's containerLogs: each line of the provider's bufio.Scanner,
// then a newline (resource_docker_container_funcs.go), every byte that is
// no UTF-8 made U+FFFD on the way, as encoding/json does.
func asTheProgramGets(stream string) string {
	var b strings.Builder
	s := bufio.NewScanner(strings.NewReader(stream))
	for s.Scan() {
		for line := s.Text(); line != ""; {
			r, n := utf8.DecodeRuneInString(line)
			if r == utf8.RuneError && n == 1 {
				b.WriteString(replacement)
			} else {
				b.WriteString(line[:n])
			}
			line = line[n:]
		}
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
		// Seen on the real engine: a 425-byte write (0x01a9), its last size
		// byte U+FFFD.
		{"a size byte that is no UTF-8",
			frame(2, strings.Repeat("x", 424)+"\n") + frame(2, "django.db.utils.OperationalError: ✗\n"),
			strings.Repeat("x", 424) + "\ndjango.db.utils.OperationalError: ✗\n"},
		{"size bytes that are no UTF-8, both", frame(1, strings.Repeat("é", 0x4140)+"\n"), strings.Repeat("é", 0x4140) + "\n"},
		{"a frame of 8 KiB, as Python's buffered stdout writes",
			frame(1, strings.Repeat("0123456789abcde\n", 512)), strings.Repeat("0123456789abcde\n", 512)},
		{"stdin's and Docker's own streams", frame(0, "in\n") + frame(3, "docker: oci runtime error\n"), "in\ndocker: oci runtime error\n"},
		{"no output", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := asTheProgramGets(c.stream)
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
		"\x01\x00\x00\x00abc",
		"a replacement \uFFFD character",
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
	for i := range len(s) {
		if streamHeaderAt(s[i:]) > 0 {
			return true
		}
	}
	return false
}

func FuzzStripStreamHeaders(f *testing.F) {
	f.Add([]byte("migrations: attempt 1 of 3\n"), byte(7))
	f.Add([]byte(frame(1, "attempt 1\n")+frame(2, "x")), byte(10))
	f.Add([]byte("\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00abcd"), byte(0))
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x01\xef\xbf\xbdtraceback"), byte(200))
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
		// The same text, as UTF-8, written in frames of up to 256 bytes,
		// each cut where a character ends (a cut within one loses it to
		// U+FFFD on both sides), comes back as the program gets the text.
		// The provider drops the \r of each \r\n it sees, and would see
		// one where a size byte is \r (13): a text without \r, in frames of
		// other sizes. Bytes 0 to 3 are no text's.
		text := strings.ToValidUTF8(strings.NewReplacer("\x00", "", "\x01", "", "\x02", "", "\x03", "", "\r", "").Replace(string(data)), "?")
		size := int(chunk) + 1
		var stream strings.Builder
		for rest := text; rest != ""; {
			n := min(size, len(rest))
			for n < len(rest) && !utf8.RuneStart(rest[n]) {
				n++
			}
			if n == 13 {
				for n = 12; !utf8.RuneStart(rest[n]); n-- {
				}
			}
			stream.WriteString(frame(1+chunk%2, rest[:n]))
			rest = rest[n:]
		}
		if got, want := stripStreamHeaders(asTheProgramGets(stream.String())), asTheProgramGets(text); got != want {
			t.Fatalf("text %q in frames of %d bytes: got %q, want %q", text, size, got, want)
		}
	})
}
