package components

// A one-shot job's output reaches the program as the provider reads it:
// Docker's multiplexed log stream (a container without a tty), cut into
// lines by a bufio.Scanner, not demultiplexed. Every write of the job is a
// frame: an 8-byte header — the stream (0 stdin, 1 stdout, 2 stderr, 3
// Docker's own errors), three zero bytes, the payload's size as a big-endian
// uint32 — then the payload. A header shows up where a write began: at a
// line start, or within a line that took several writes; a size byte can be
// a newline itself (a 10-byte write), which splits the header over two
// lines. Printed as it is, each line starts with stray bytes: the size
// bytes, the zeros unseen.

// streamHeaderLen is the length of a frame header of Docker's multiplexed
// log stream.
const streamHeaderLen = 8

// stripStreamHeaders removes the frame headers of Docker's multiplexed log
// stream from a job's output, wherever they are. It reads headers by their
// shape (a stream byte 0 to 3, then three zero bytes) and not by the sizes
// they announce: the provider's line reading drops the \r of each \r\n,
// so the sizes no longer add up. Text holds no zero bytes, so text without
// headers comes back unchanged. A header that the removal of another would
// join together is removed too: the result holds none. What it cannot tell
// apart is no job's output: a byte 1 to 3 right before a header (it passes
// for the stream byte), or a header whose last size byte is \r before a
// payload that starts with \n (the provider drops the \r, and the \n goes
// with the header).
func stripStreamHeaders(log string) string {
	out := make([]byte, 0, len(log))
	for i := 0; i < len(log); i++ {
		out = append(out, log[i])
		if n := len(out); n >= streamHeaderLen && isStreamHeader(out[n-streamHeaderLen:]) {
			out = out[:n-streamHeaderLen]
		}
	}
	return string(out)
}

// isStreamHeader reports whether b starts with the fixed part of a frame
// header: a stream byte, then three zero bytes.
func isStreamHeader(b []byte) bool {
	return len(b) >= 4 && b[0] <= 3 && b[1] == 0 && b[2] == 0 && b[3] == 0
}
