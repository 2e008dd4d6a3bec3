package units_test

import (
	"strings"
	"testing"
	"time"

	"github.com/djangostack/infra/components/units"
)

func TestSizesParseInEachServersSyntax(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	cases := []struct {
		kind  string
		text  string
		bytes int64
		back  string // rendered again; "" when the input is refused
	}{
		{"docker", "1G", GiB, "1G"},
		{"docker", "768M", 768 * MiB, "768M"},
		{"docker", "512m", 512 * MiB, "512M"},
		{"docker", "2GiB", 2 * GiB, "2G"},
		{"docker", "1.5G", 1536 * MiB, "1536M"},
		{"docker", "128k", 128 << 10, "128K"},
		{"docker", "1024", 0, ""},
		{"docker", "1 G", 0, ""},
		{"docker", "-1G", 0, ""},
		{"docker", "1T", 0, ""},
		// Docker's parser takes these; ParseSize keeps its stricter rules.
		{"docker", "1.0000001K", 0, ""}, // not a whole number of bytes
		{"docker", "1Gi", 0, ""},
		{"docker", "1GIB", GiB, "1G"},
		{"docker", "0.5k", 512, "512B"},
		{"docker", "2b", 2, "2B"},
		{"docker", " 1G ", GiB, "1G"},
		{"postgres", "256MB", 256 * MiB, "256MB"},
		{"postgres", "1GB", GiB, "1GB"},
		{"postgres", "1024MB", GiB, "1GB"},
		{"postgres", "64kB", 64 << 10, "64kB"},
		{"postgres", "256mb", 0, ""}, // Postgres units are case-sensitive
		{"postgres", "256 MB", 0, ""},
		{"postgres", "256M", 0, ""},
		{"redis", "512mb", 512 * MiB, "512mb"},
		{"redis", "512MB", 512 * MiB, "512mb"},
		{"redis", "1gb", GiB, "1gb"},
		{"redis", "512m", 512_000_000, "500000kb"}, // m is millions of bytes to Redis
		{"redis", "100", 100, "100"},
		{"redis", "512 mb", 0, ""},
	}
	for _, c := range cases {
		var bytes int64
		var back string
		var err error
		switch c.kind {
		case "docker":
			var s units.Size
			s, err = units.ParseSize(c.text)
			bytes, back = s.Bytes(), s.String()
		case "postgres":
			var s units.PostgresSize
			s, err = units.ParsePostgresSize(c.text)
			bytes, back = s.Bytes(), s.String()
		case "redis":
			var s units.RedisSize
			s, err = units.ParseRedisSize(c.text)
			bytes, back = s.Bytes(), s.String()
		}
		if c.back == "" {
			if err == nil {
				t.Errorf("%s size %q: accepted as %d bytes, want an error", c.kind, c.text, bytes)
			} else if !strings.Contains(err.Error(), `"`+c.text+`"`) || !strings.Contains(err.Error(), "examples") {
				t.Errorf("%s size %q: error %q does not quote the value and give examples", c.kind, c.text, err)
			}
			continue
		}
		if err != nil || bytes != c.bytes || back != c.back {
			t.Errorf("%s size %q = %d bytes, %q, %v; want %d, %q", c.kind, c.text, bytes, back, err, c.bytes, c.back)
		}
	}
}

func TestSizeRendersForNginxAndLogOptions(t *testing.T) {
	for text, want := range map[string]string{"10M": "10m", "128K": "128k", "4M": "4m", "1G": "1g", "1536K": "1536k"} {
		s, err := units.ParseSize(text)
		if err != nil || s.Compact() != want {
			t.Errorf("Size(%q).Compact() = %q, %v; want %q", text, s.Compact(), err, want)
		}
	}
}

func TestDurations(t *testing.T) {
	cases := []struct {
		text    string
		want    time.Duration
		back    string
		docker  string
		service string
	}{
		{"10s", 10 * time.Second, "10s", "10s", "10s"},
		{"60s", time.Minute, "60s", "1m0s", "1m"},
		{"1m30s", 90 * time.Second, "90s", "1m30s", "1m30s"},
		{"180s", 3 * time.Minute, "180s", "3m0s", "3m"},
		{"500ms", 500 * time.Millisecond, "500ms", "500ms", "500ms"},
		{"30d", 30 * 24 * time.Hour, "30d", "720h0m0s", "720h"},
		{"1y", 365 * 24 * time.Hour, "1y", "8760h0m0s", "8760h"},
		{"6h", 6 * time.Hour, "6h", "6h0m0s", "6h"},
		{"86400s", 24 * time.Hour, "1d", "24h0m0s", "24h"},
		{"5400s", 90 * time.Minute, "5400s", "1h30m0s", "1h30m"},
	}
	for _, c := range cases {
		d, err := units.ParseDuration(c.text)
		if err != nil || time.Duration(d) != c.want || d.String() != c.back || d.Docker() != c.docker || d.Service() != c.service {
			t.Errorf("duration %q = %v (%q, docker %q, service %q), %v; want %v (%q, %q, %q)",
				c.text, time.Duration(d), d.String(), d.Docker(), d.Service(), err, c.want, c.back, c.docker, c.service)
		}
	}
	for _, bad := range []string{"", "10", "10 s", "1w", "-5s", "s", "1.5s", "10S"} {
		if d, err := units.ParseDuration(bad); err == nil {
			t.Errorf("duration %q accepted as %v", bad, time.Duration(d))
		} else if !strings.Contains(err.Error(), "examples") {
			t.Errorf("duration %q: error %q gives no examples", bad, err)
		}
	}
}

func TestCPUs(t *testing.T) {
	cases := []struct {
		text   string
		render string
		shares int
		nano   int64
	}{
		{"2.0", "2.0", 2048, 2e9},
		{"2", "2.0", 2048, 2e9},
		{"1.0", "1.0", 1024, 1e9},
		{"0.5", "0.5", 512, 5e8},
		{"1.5", "1.5", 1536, 15e8},
		{"0.25", "0.25", 256, 25e7},
		{"4.1", "4.1", 4198, 41e8},  // 4.1 x 100 is not whole in binary floating point
		{"0.29", "0.29", 297, 29e7}, // nor is 0.29 x 100
	}
	for _, c := range cases {
		v, err := units.ParseCPUs(c.text)
		if err != nil || v.String() != c.render || v.Shares() != c.shares || v.NanoCPUs() != c.nano {
			t.Errorf("cpus %q = %q, shares %d, nano %d, %v; want %q, %d, %d", c.text, v.String(), v.Shares(), v.NanoCPUs(), err, c.render, c.shares, c.nano)
		}
	}
	for _, bad := range []string{"", "two", "-1", "1.555", "1,5"} {
		if _, err := units.ParseCPUs(bad); err == nil {
			t.Errorf("cpus %q accepted", bad)
		}
	}
}

func TestRates(t *testing.T) {
	for _, text := range []string{"1000/hour", "5000/hour", "60/min", "10/s", "100/day"} {
		r, err := units.ParseRate(text)
		if err != nil || r.String() != text {
			t.Errorf("rate %q = %q, %v", text, r.String(), err)
		}
	}
	for _, bad := range []string{"1000", "1000/", "/hour", "1000/week", "0/hour", "-5/hour", "ten/hour", "1000/Hour", "1000 /hour"} {
		if _, err := units.ParseRate(bad); err == nil {
			t.Errorf("rate %q accepted", bad)
		}
	}
}
