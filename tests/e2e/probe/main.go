// Command probe is the end-to-end deploy's client of the running site: what
// a browser and a crowd of users do, measured, on loopback only.
//
//	probe load  -url URL [-url URL...] [-c 4] [-for 30s] [-timeout 10s]
//	            requests the URLs in turn from C clients until -for has
//	            passed or SIGTERM/SIGINT arrives, then prints one JSON line:
//	            requests, failures by cause, latency percentiles. A failure
//	            is a transport error, a timeout, or a status that is not
//	            2xx or 3xx.
//	probe ws    -url ws://HOST/ws/ping/ -origin ORIGIN
//	            opens the websocket as a page of ORIGIN would, sends a ping,
//	            prints the answer; exits 1 if the socket is refused.
//	probe login -base http://HOST -user NAME -password PASSWORD
//	            signs in to Django's admin as a browser does: the login
//	            page's CSRF cookie and token, the POST, the session cookie,
//	            and the admin index with it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe load|ws|login [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = load(os.Args[2:])
	case "ws":
		err = ws(os.Args[2:])
	case "login":
		err = login(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (load, ws, login)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

type urls []string

func (u *urls) String() string     { return strings.Join(*u, ",") }
func (u *urls) Set(v string) error { *u = append(*u, v); return nil }

// Report is what a load run prints.
type Report struct {
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	Causes   map[string]int `json:"causes"`
	Seconds  float64        `json:"seconds"`
	P50ms    float64        `json:"p50_ms"`
	P99ms    float64        `json:"p99_ms"`
	MaxMs    float64        `json:"max_ms"`
	// FirstFailures are the first few failures with their time into the run.
	FirstFailures []string `json:"first_failures,omitempty"`
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var targets urls
	fs.Var(&targets, "url", "a URL to request (repeat for several, requested in turn)")
	clients := fs.Int("c", 4, "concurrent clients")
	duration := fs.Duration("for", 0, "stop after this long (0: only on SIGTERM or SIGINT)")
	timeout := fs.Duration("timeout", 10*time.Second, "a request without an answer within this long fails")
	host := fs.String("host", "", "Host header to send (default: the URL's)")
	fs.Parse(args)
	if len(targets) == 0 {
		return errors.New("load: no -url")
	}
	for _, t := range targets {
		if u, err := url.Parse(t); err != nil || !isLoopback(u.Hostname()) {
			return fmt.Errorf("load: %s is not a loopback URL; this tool loads nothing else", t)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	transport := &http.Transport{MaxIdleConnsPerHost: *clients, DisableCompression: true}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: transport,
		// A redirect is an answer: the clients do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		report    = Report{Causes: map[string]int{}}
		started   = time.Now()
		wg        sync.WaitGroup
	)
	record := func(d time.Duration, cause string) {
		mu.Lock()
		defer mu.Unlock()
		report.Requests++
		latencies = append(latencies, d)
		if cause != "" {
			report.Failed++
			report.Causes[cause]++
			if len(report.FirstFailures) < 10 {
				report.FirstFailures = append(report.FirstFailures, fmt.Sprintf("%.1fs %s", time.Since(started).Seconds(), cause))
			}
		}
	}
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := i; ctx.Err() == nil; n++ {
				target := targets[n%len(targets)]
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				if *host != "" {
					req.Host = *host
				}
				begin := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // stopped mid-request: not the site's failure
					}
					record(time.Since(begin), fmt.Sprintf("%s: %s", target, errorKind(err)))
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil && ctx.Err() == nil:
					record(time.Since(begin), fmt.Sprintf("%s: body: %s", target, errorKind(err)))
				case resp.StatusCode >= 400:
					record(time.Since(begin), fmt.Sprintf("%s: %d", target, resp.StatusCode))
				default:
					record(time.Since(begin), "")
				}
			}
		}(i)
	}
	<-ctx.Done()
	wg.Wait()
	report.Seconds = time.Since(started).Seconds()
	slices.Sort(latencies)
	report.P50ms, report.P99ms = percentile(latencies, 0.50), percentile(latencies, 0.99)
	if len(latencies) > 0 {
		report.MaxMs = ms(latencies[len(latencies)-1])
	}
	return json.NewEncoder(os.Stdout).Encode(report)
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return ms(sorted[min(len(sorted)-1, int(float64(len(sorted))*p))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// errorKind names a transport error without its addresses, so that the
// same cause is counted once.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return err.Error()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func ws(args []string) error {
	fs := flag.NewFlagSet("ws", flag.ExitOnError)
	target := fs.String("url", "", "websocket URL")
	origin := fs.String("origin", "", "Origin header, as the page's browser sends it")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, *target, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {*origin}}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return fmt.Errorf("websocket %s from origin %s refused (HTTP %d): %w", *target, *origin, status, err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type": "ping", "echo": "e2e"}`)); err != nil {
		return err
	}
	_, answer, err := conn.Read(ctx)
	if err != nil {
		return fmt.Errorf("websocket %s: no answer: %w", *target, err)
	}
	fmt.Println(string(answer))
	conn.Close(websocket.StatusNormalClosure, "")
	return nil
}

var csrfField = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

func login(args []string) error {
	fs := flag.NewFlagSet("login", flag.ExitOnError)
	base := fs.String("base", "http://localhost:8080", "the site")
	user := fs.String("user", "", "admin user")
	password := fs.String("password", "", "its password")
	fs.Parse(args)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	loginURL := *base + "/admin/login/"
	resp, err := client.Get(loginURL)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrfCookie := cookie(resp, "csrftoken")
	field := csrfField.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || csrfCookie == nil || field == nil {
		return fmt.Errorf("GET %s: %d, csrftoken cookie %v, token in the form %v", loginURL, resp.StatusCode, csrfCookie != nil, field != nil)
	}
	fmt.Printf("GET /admin/login/: 200, Set-Cookie csrftoken (%s)\n", attributes(csrfCookie))

	form := url.Values{"csrfmiddlewaretoken": {string(field[1])}, "username": {*user}, "password": {*password}, "next": {"/admin/"}}
	req, _ := http.NewRequest(http.MethodPost, loginURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", loginURL)
	resp, err = client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	session := cookie(resp, "sessionid")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/admin/" || session == nil {
		return fmt.Errorf("POST %s with the CSRF token: %d to %q, session cookie %v (403 is a CSRF refusal)", loginURL, resp.StatusCode, resp.Header.Get("Location"), session != nil)
	}
	fmt.Printf("POST /admin/login/ with the CSRF token: 302 to /admin/, Set-Cookie sessionid (%s)\n", attributes(session))

	resp, err = client.Get(*base + "/admin/")
	if err != nil {
		return err
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Log out") {
		return fmt.Errorf("GET /admin/ with the session: %d, signed in %v", resp.StatusCode, strings.Contains(string(page), "Log out"))
	}
	fmt.Println("GET /admin/ with the session: 200, signed in")

	// Without the token the same POST is refused: the check is real.
	bare, _ := http.NewRequest(http.MethodPost, loginURL, strings.NewReader(url.Values{"username": {*user}, "password": {*password}}.Encode()))
	bare.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = (&http.Client{Timeout: 10 * time.Second}).Do(bare)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("POST %s without a CSRF token: %d, want 403", loginURL, resp.StatusCode)
	}
	fmt.Println("POST /admin/login/ without the token: 403")
	return nil
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func attributes(c *http.Cookie) string {
	var a []string
	if c.HttpOnly {
		a = append(a, "HttpOnly")
	}
	if c.Secure {
		a = append(a, "Secure")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		a = append(a, "SameSite=Lax")
	case http.SameSiteStrictMode:
		a = append(a, "SameSite=Strict")
	}
	return strings.Join(a, " ")
}
