package tests

// The redis-server command line the program renders, run by a real Redis: it
// starts with the rendered arguments and the password file the container
// receives, refuses unauthenticated clients, and every tuned setting reads
// back as the profile's value.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/djangostack/infra/components/redis"
)

// redisConn is a minimal RESP2 client: commands as arrays of bulk strings,
// replies as string, int64, nil, []any or redisError.
type redisConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// redisError is an error reply ("-NOAUTH Authentication required.").
type redisError string

func (e redisError) Error() string { return string(e) }

func dialRedis(addr string) (*redisConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &redisConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

func (c *redisConn) Close() error { return c.conn.Close() }

// do sends one command and reads its reply; an error reply is returned as a
// redisError.
func (c *redisConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	return c.reply()
}

func (c *redisConn) reply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP reply")
	}
	switch kind, rest := line[0], line[1:]; kind {
	case '+':
		return rest, nil
	case '-':
		return nil, redisError(rest)
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.reply(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown RESP reply %q", line)
}

// redisLaunch is how the container runs Redis: its command, the files it
// receives and its open-files limit.
type redisLaunch struct {
	command []string
	// files are the container's uploads by path.
	files map[string]string
	// nofile is the container's open-files limit (soft, hard); zero when it
	// sets none.
	nofile [2]int
	// password is what the backend authenticates with.
	password string
}

func shippedRedis(t *testing.T, st shippedStack) redisLaunch {
	t.Helper()
	rd := st.run.container("redis")
	l := redisLaunch{command: rd.strings("command"), files: map[string]string{}}
	if !reflect.DeepEqual(l.command, st.profile.Redis.Command()) {
		t.Fatalf("the shipped command %q is not the profile's render %q", l.command, st.profile.Redis.Command())
	}
	for _, arg := range l.command {
		if content, _, ok := rd.upload(arg); ok {
			l.files[arg] = content
		}
	}
	for _, u := range asSlice(rd.input("ulimits")) {
		if m := asMap(u); m["name"] == "nofile" {
			soft, _ := m["soft"].(float64)
			hard, _ := m["hard"].(float64)
			l.nofile = [2]int{int(soft), int(hard)}
		}
	}
	l.password, _, _ = st.run.container("backend-1").secretFile("REDIS_PASSWORD")
	if l.password == "" {
		t.Fatal("the backend gets no REDIS_PASSWORD_FILE")
	}
	return l
}

// startRedis runs the launch's command on a loopback port: the program name
// replaced by the binary, each argument naming an uploaded file replaced by
// a copy of that file in a temporary tree, then the test's own arguments
// (port, loopback only, data directory in the tree). The open-files limit is
// the container's, set with prlimit.
func startRedis(t *testing.T, bin string, l redisLaunch) (*server, string, error) {
	t.Helper()
	root := serverDir(t, "redis")
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	args := slices.Clone(l.command[1:])
	for i, arg := range args {
		content, ok := l.files[arg]
		if !ok {
			continue
		}
		path := filepath.Join(root, strings.ReplaceAll(strings.TrimPrefix(arg, "/"), "/", "_"))
		if err := os.WriteFile(path, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
		args[i] = path
	}
	port := freePort(t)
	args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", data)
	cmd := exec.Command(bin, args...)
	if l.nofile != [2]int{} {
		// The container's limit, or as much of it as this machine allows
		// (a root without CAP_SYS_RESOURCE cannot raise its hard limit).
		var own syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err != nil {
			t.Fatal(err)
		}
		soft, hard := uint64(l.nofile[0]), uint64(l.nofile[1])
		if hard > own.Max {
			t.Logf("open-files limit capped at this machine's hard limit %d (the container has %d)", own.Max, hard)
			hard = own.Max
		}
		soft = min(soft, hard)
		prlimit := requireBinary(t, "prlimit", "util-linux")
		cmd = exec.Command(prlimit, append([]string{fmt.Sprintf("--nofile=%d:%d", soft, hard), "--", bin}, args...)...)
	}
	srv, err := startServer(t, "redis-server", cmd, syscall.SIGTERM)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return srv, addr, srv.waitListening(addr, 10*time.Second)
}

// checkRedis reports every way the running server differs from the profile:
// an unauthenticated client must be refused, the backend's password
// accepted, and every tuned setting must read back as the profile's value.
func checkRedis(addr, password string, tuning redis.Tuning) error {
	c, err := dialRedis(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var problems []error
	for _, cmd := range [][]string{{"PING"}, {"CONFIG", "GET", "maxmemory"}, {"SET", "django-stack-test", "x"}} {
		reply, err := c.do(cmd...)
		if re, ok := err.(redisError); !ok || !strings.HasPrefix(string(re), "NOAUTH") {
			problems = append(problems, fmt.Errorf("%s without AUTH: answered %v, %v; want NOAUTH", strings.Join(cmd, " "), reply, err))
		}
	}
	if _, err := c.do("AUTH", password+"-wrong"); err == nil {
		problems = append(problems, errors.New("AUTH with a wrong password was accepted"))
	}
	if reply, err := c.do("AUTH", password); err != nil || reply != "OK" {
		return errors.Join(append(problems, fmt.Errorf("AUTH with the backend's password: %v, %v", reply, err))...)
	}

	// What each typed field must read back as, in Redis's own units.
	want := map[string]string{
		"maxmemory":        strconv.FormatInt(tuning.MaxMemory.Bytes(), 10),
		"maxmemory-policy": tuning.MaxMemoryPolicy,
		"save":             strings.Join(strings.Fields(tuning.Save), " "),
		"appendonly":       map[bool]string{true: "yes", false: "no"}[tuning.AppendOnly],
		"tcp-keepalive":    strconv.FormatInt(tuning.TCPKeepalive.Seconds(), 10),
		"maxclients":       strconv.Itoa(tuning.MaxClients),
	}
	rendered := tuning.Settings()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !slices.ContainsFunc(rendered, func(kv [2]string) bool { return kv[0] == name }) {
			problems = append(problems, fmt.Errorf("%s: the profile's value is not rendered as an argument", name))
		}
	}
	for _, kv := range rendered {
		name, text := kv[0], kv[1]
		reply, err := c.do("CONFIG", "GET", name)
		pair, _ := reply.([]any)
		if err != nil || len(pair) != 2 {
			problems = append(problems, fmt.Errorf("CONFIG GET %s: %v, %v; want the setting and its value", name, reply, err))
			continue
		}
		got := fmt.Sprint(pair[1])
		w, typed := want[name]
		if !typed {
			// An extra setting: the server must hold it as rendered.
			w = text
		}
		if got != w {
			problems = append(problems, fmt.Errorf("CONFIG GET %s = %q, the profile says %q (rendered %q)", name, got, w, text))
		}
	}
	return errors.Join(problems...)
}

func TestRedisStartsWithTheRenderedCommand(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t, "redis-server", "redis-server")
	forEachShippedStack(t, func(t *testing.T, st shippedStack) {
		l := shippedRedis(t, st)
		if len(l.files) == 0 {
			t.Fatalf("the command %q reads no file the container receives: where is the password?", l.command)
		}
		_, addr, err := startRedis(t, bin, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRedis(addr, l.password, st.profile.Redis.Tuning); err != nil {
			t.Errorf("stack %s: Redis does not hold the profile's settings:\n%v", st.name, err)
		}
	})
}

// The check must be able to fail: a broken render fails it.
func TestRedisCheckFailsOnABrokenRender(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t, "redis-server", "redis-server")
	st := loadShippedStack(t, "production")
	good := shippedRedis(t, st)
	tuning := st.profile.Redis.Tuning

	t.Run("unknown argument", func(t *testing.T) {
		t.Parallel()
		l := good
		l.command = append(slices.Clone(good.command), "--maxmemory-polcy", tuning.MaxMemoryPolicy)
		_, _, err := startRedis(t, bin, l)
		if err == nil || !errors.Is(err, errStartFailed) || !strings.Contains(err.Error(), "Bad directive") {
			t.Fatalf("redis-server %q started or failed otherwise: %v\nwant it refused as a bad directive", l.command, err)
		}
	})

	t.Run("no password file", func(t *testing.T) {
		t.Parallel()
		l := good
		l.command = slices.DeleteFunc(slices.Clone(good.command), func(arg string) bool { _, file := good.files[arg]; return file })
		_, addr, err := startRedis(t, bin, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRedis(addr, l.password, tuning); err == nil || !strings.Contains(err.Error(), "PING without AUTH") {
			t.Fatalf("a server without a password: %v, want the check to report unauthenticated access", err)
		}
	})

	t.Run("maxmemory in millions of bytes", func(t *testing.T) {
		t.Parallel()
		// "512m" is 512 000 000 bytes to Redis, "512mb" is 512 MiB.
		rendered := tuning.MaxMemory.String()
		if !strings.HasSuffix(rendered, "b") {
			t.Fatalf("maxmemory renders as %q, not in kb, mb or gb", rendered)
		}
		l := good
		l.command = slices.Clone(good.command)
		i := slices.Index(l.command, "--maxmemory")
		if i < 0 || l.command[i+1] != rendered {
			t.Fatalf("no --maxmemory %s in %q", rendered, l.command)
		}
		l.command[i+1] = strings.TrimSuffix(rendered, "b")
		_, addr, err := startRedis(t, bin, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRedis(addr, l.password, tuning); err == nil || !strings.Contains(err.Error(), "CONFIG GET maxmemory =") {
			t.Fatalf("maxmemory %s against a profile of %s: %v, want the check to report it", l.command[i+1], rendered, err)
		}
	})
}
