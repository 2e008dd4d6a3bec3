package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logLine is one line of a replica's log.
type logLine struct {
	at     time.Time
	source string
	text   string
}

// logs prints the logs of the components, all replicas merged, each line
// prefixed with its replica (the key of the containers output, or on a
// swarm the task). Without -f, every replica's lines are read first and
// printed in time order; with -f, lines are printed as they come.
func (h *host) logs(components []string, o options) error {
	keys, err := h.selectKeys(components)
	if err != nil {
		return err
	}
	args := []string{"--timestamps"}
	if o.follow {
		args = append(args, "--follow")
	}
	if o.tail >= 0 {
		args = append(args, "--tail", strconv.Itoa(o.tail))
	}
	if o.since != "" {
		args = append(args, "--since", o.since)
	}
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	var (
		mu    sync.Mutex
		lines []logLine
		wg    sync.WaitGroup
		errs  = make([]error, len(keys))
	)
	emit := func(l logLine) {
		mu.Lock()
		defer mu.Unlock()
		if o.follow {
			fmt.Fprintf(h.stdout, "%-*s | %s\n", width, l.source, l.text)
			return
		}
		lines = append(lines, l)
	}
	for i, k := range keys {
		sources := []string{h.Containers[k]}
		call := append([]string{"logs"}, args...)
		if h.Swarm() {
			// Each running task by its id: docker service logs of the
			// service waits for ever on a task whose container is gone
			// (seen on Docker 20.10 after a release), even without -f.
			out, err := h.output("service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", h.Containers[k])
			if err != nil {
				errs[i] = err
				continue
			}
			sources = strings.Fields(out)
			call = append([]string{"service", "logs", "--no-trunc", "--no-task-ids"}, args...)
		}
		for _, source := range sources {
			cmd := h.command(context.Background(), append(call, source)...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := readLog(cmd, k, h.Swarm(), emit); err != nil {
					mu.Lock()
					errs[i] = err
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if !o.follow {
		// Each replica's lines are in order already: a stable sort keeps
		// lines of the same instant as each replica wrote them.
		sort.SliceStable(lines, func(a, b int) bool { return lines[a].at.Before(lines[b].at) })
		for _, l := range lines {
			fmt.Fprintf(h.stdout, "%-*s | %s\n", width, l.source, l.text)
		}
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("the logs of %s (%s): %w", keys[i], h.Containers[keys[i]], err)
		}
	}
	return nil
}

// readLog runs a docker logs call and hands on each line of its output
// (stdout and stderr: a container's two streams) with its timestamp.
// docker service logs puts the task (service.slot@node) after it, which
// becomes the line's source.
func readLog(cmd *exec.Cmd, key string, swarm bool, emit func(logLine)) error {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var errText strings.Builder
	var errMu sync.Mutex
	read := func(r io.Reader, isStderr bool) {
		defer wg.Done()
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64*1024), 1024*1024)
		for scanner.Scan() {
			l, ok := parseLogLine(scanner.Text(), key, swarm)
			if !ok && isStderr {
				// Not a log line: the docker CLI's own message.
				errMu.Lock()
				errText.WriteString(scanner.Text() + "\n")
				errMu.Unlock()
				continue
			}
			emit(l)
		}
	}
	wg.Add(2)
	go read(stdout, false)
	go read(stderr, true)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s (%w)", strings.TrimSpace(errText.String()), err)
	}
	return nil
}

// parseLogLine reads a line of docker logs --timestamps ("TIME TEXT") or
// of docker service logs --timestamps ("TIME TASK@NODE    | TEXT"). ok is
// false for a line with no timestamp.
func parseLogLine(line, key string, swarm bool) (l logLine, ok bool) {
	l.source, l.text = key, line
	stamp, text, _ := strings.Cut(line, " ")
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return l, false
	}
	if swarm {
		task, after, found := strings.Cut(text, "|")
		if !found {
			return l, false
		}
		l.source, text = strings.TrimSpace(task), strings.TrimPrefix(after, " ")
	}
	l.at, l.text = at, stamp+" "+text
	return l, true
}
