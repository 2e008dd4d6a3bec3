// Command probe is the end-to-end deploy's client of the running site: what
// a browser and a crowd of users do, measured. It sends traffic only to
// loopback and to the test servers' own network, 198.18.0.0/15 (RFC 2544's
// range for network tests, which no real host uses).
//
// Every command takes -cacert FILE, which makes the PEM roots in FILE the
// only ones trusted for https and wss, and -resolve NAME:ADDR, which dials
// ADDR for NAME (as curl's --resolve), so a site is asked by its own name.
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
//	probe tls   -addr ADDR:443 -name NAME -cacert FILE
//	            a TLS handshake as a browser makes it (SNI NAME, ALPN h2
//	            and http/1.1), trusting only FILE's roots: prints the
//	            certificate's names, issuer, chain and expiry and the
//	            protocol negotiated; then a handshake offering at most
//	            TLS 1.1, which must be refused. Exits 1 otherwise.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
		fmt.Fprintln(os.Stderr, "usage: probe load|ws|login|tls [flags]")
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
	case "tls":
		err = handshake(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (load, ws, login, tls)", os.Args[1])
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
	var dial dialing
	dial.flags(fs)
	fs.Parse(args)
	if len(targets) == 0 {
		return errors.New("load: no -url")
	}
	for _, t := range targets {
		if err := dial.allowed(t); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	transport, err := dial.transport()
	if err != nil {
		return err
	}
	transport.MaxIdleConnsPerHost, transport.DisableCompression = *clients, true

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
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

// dialing is how the commands reach a site: which roots they trust for
// TLS, and which address they dial for a name.
type dialing struct {
	caFile  string
	resolve map[string]string
}

func (d *dialing) flags(fs *flag.FlagSet) {
	d.resolve = map[string]string{}
	fs.StringVar(&d.caFile, "cacert", "", "PEM file of the only roots trusted for https and wss (default: the system's)")
	fs.Func("resolve", "NAME:ADDR: dial ADDR for NAME (repeat for several names)", func(v string) error {
		name, addr, ok := strings.Cut(v, ":")
		if !ok || name == "" || net.ParseIP(addr) == nil {
			return fmt.Errorf("%q is not NAME:ADDR", v)
		}
		d.resolve[name] = addr
		return nil
	})
}

// testNetwork is where the end-to-end servers live: RFC 2544's benchmarking
// range, never a real host's address.
var testNetwork = &net.IPNet{IP: net.IPv4(198, 18, 0, 0), Mask: net.CIDRMask(15, 32)}

// allowed refuses a URL whose host is not loopback or the test network, as
// given or as -resolve maps it: this tool sends traffic nowhere else.
func (d *dialing) allowed(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if addr, ok := d.resolve[host]; ok {
		host = addr
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || testNetwork.Contains(ip)) {
		return nil
	}
	return fmt.Errorf("%s is not on loopback or the test network %s; this tool sends traffic nowhere else", raw, testNetwork)
}

// tlsConfig trusts only -cacert's roots when it is given.
func (d *dialing) tlsConfig(name string) (*tls.Config, error) {
	conf := &tls.Config{ServerName: name}
	if d.caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(d.caFile)
	if err != nil {
		return nil, err
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", d.caFile)
	}
	return conf, nil
}

// transport dials -resolve's address for a mapped name, and negotiates
// HTTP/2 over TLS as browsers do.
func (d *dialing) transport() (*http.Transport, error) {
	conf, err := d.tlsConfig("")
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		TLSClientConfig:   conf,
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil {
				if mapped, ok := d.resolve[host]; ok {
					addr = net.JoinHostPort(mapped, port)
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}, nil
}

// client is an http.Client over transport that does not follow redirects.
func (d *dialing) client(timeout time.Duration) (*http.Client, error) {
	transport, err := d.transport()
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

func ws(args []string) error {
	fs := flag.NewFlagSet("ws", flag.ExitOnError)
	target := fs.String("url", "", "websocket URL")
	origin := fs.String("origin", "", "Origin header, as the page's browser sends it")
	var dial dialing
	dial.flags(fs)
	fs.Parse(args)
	if err := dial.allowed(*target); err != nil {
		return fmt.Errorf("ws: %w", err)
	}
	client, err := dial.client(15 * time.Second)
	if err != nil {
		return err
	}
	// The websocket handshake is HTTP/1.1's Upgrade.
	client.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, *target, &websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Origin": {*origin}}})
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
	var dial dialing
	dial.flags(fs)
	fs.Parse(args)
	if err := dial.allowed(*base); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	client, err := dial.client(10 * time.Second)
	if err != nil {
		return err
	}
	client.Jar, _ = cookiejar.New(nil)
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
	noSession, err := dial.client(10 * time.Second)
	if err != nil {
		return err
	}
	resp, err = noSession.Do(bare)
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

// handshake is the tls command: the certificate a name is served with, as a
// client that trusts only -cacert sees it, and the refusal of old TLS.
func handshake(args []string) error {
	fs := flag.NewFlagSet("tls", flag.ExitOnError)
	addr := fs.String("addr", "", "ADDR:PORT to connect to")
	name := fs.String("name", "", "the server name to ask for (SNI) and verify")
	var dial dialing
	dial.flags(fs)
	fs.Parse(args)
	if err := dial.allowed("https://" + *addr); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	conf, err := dial.tlsConfig(*name)
	if err != nil {
		return err
	}
	conf.NextProtos = []string{"h2", "http/1.1"}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", *addr, conf)
	if err != nil {
		return fmt.Errorf("%s at %s: %w", *name, *addr, err)
	}
	state := conn.ConnectionState()
	conn.Close()
	leaf := state.PeerCertificates[0]
	chain := state.VerifiedChains[0]
	var path []string
	for _, c := range chain {
		path = append(path, c.Subject.CommonName)
	}
	fmt.Printf("%s: %s, ALPN %s; certificate %x for %s, issued by %s, valid until %s; verified chain: %s\n",
		*name, tls.VersionName(state.Version), state.NegotiatedProtocol, leaf.SerialNumber, strings.Join(leaf.DNSNames, " "),
		leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339), strings.Join(path, " <- "))
	if state.NegotiatedProtocol != "h2" {
		return fmt.Errorf("%s: ALPN negotiated %q, not h2", *name, state.NegotiatedProtocol)
	}

	// Offering only TLS 1.0 and 1.1: a server that accepts either fails
	// the check. The client skips verification here, so that nothing but
	// the version can make the handshake fail.
	old := &tls.Config{ServerName: *name, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
	conn, err = tls.DialWithDialer(dialer, "tcp", *addr, old)
	if err == nil {
		v := tls.VersionName(conn.ConnectionState().Version)
		conn.Close()
		return fmt.Errorf("%s: a handshake offering at most TLS 1.1 was accepted (%s)", *name, v)
	}
	if !strings.Contains(err.Error(), "protocol version") {
		return fmt.Errorf("%s: a handshake offering at most TLS 1.1 failed, but not for its version: %w", *name, err)
	}
	fmt.Printf("%s: a handshake offering at most TLS 1.1 is refused (%v)\n", *name, err)
	return nil
}
