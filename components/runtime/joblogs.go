package runtime

import "strings"

// A one-shot job's output reaches the program as the provider reads it:
// Docker's multiplexed log stream (a container without a tty), cut into
// lines by a bufio.Scanner, not demultiplexed. Every write of the job is a
// frame: an 8-byte header — the stream (0 stdin, 1 stdout, 2 stderr, 3
// Docker's own errors), three zero bytes, the payload's size as a big-endian
// uint32 — then the payload. A header shows up where a write began: at a
// line start, or within a line that took several writes; a size byte can be
// a newline itself (a 10-byte write), which splits the header over two
// lines. And a size byte above 0x7f, which is no UTF-8, reaches the program
// as U+FFFD, three bytes (seen on the real engine: a 425-byte frame). Printed
// as it is, each line starts with stray bytes: the size bytes, the zeros
// unseen.

// replacement is U+FFFD, which a size byte that is no UTF-8 becomes.
const replacement = "\uFFFD"

// stripStreamHeaders removes the frame headers of Docker's multiplexed log
// stream from a job's output, wherever they are. It reads headers by their
// shape (a stream byte 0 to 3, three zero bytes, then four size bytes, each
// one byte or U+FFFD) and not by the sizes they announce: the provider's
// line reading drops the \r of each \r\n, so the sizes no longer add up.
// Text holds no zero bytes, so text without headers comes back unchanged.
// A header that the removal of others joins together is removed too: the
// result holds none. What it cannot tell apart is no job's output: a header
// whose last size byte is \r before a payload that starts with \n (the
// provider drops the \r, and the \n goes with the header).
func stripStreamHeaders(log string) string {
	for {
		stripped := stripStreamHeadersOnce(log)
		if stripped == log {
			return log
		}
		log = stripped
	}
}

// stripStreamHeadersOnce removes the headers it finds reading log once.
func stripStreamHeadersOnce(log string) string {
	var out strings.Builder
	out.Grow(len(log))
	for i := 0; i < len(log); {
		if n := streamHeaderAt(log[i:]); n > 0 {
			i += n
			continue
		}
		out.WriteByte(log[i])
		i++
	}
	return out.String()
}

// streamHeaderAt is the length of the frame header that s starts with, or 0.
func streamHeaderAt(s string) int {
	if len(s) < 8 || s[0] > 3 || s[1:4] != "\x00\x00\x00" {
		return 0
	}
	n := 4
	for range 4 {
		switch {
		case strings.HasPrefix(s[n:], replacement):
			n += len(replacement)
		case n < len(s):
			n++
		default:
			return 0
		}
	}
	return n
}
