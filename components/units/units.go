package units

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
)

// The quantity types below are what the profile is written in. Each one parses
// the syntax of the server that consumes it and renders back into that syntax,
// so a value reads the same in Pulumi config, in the profile and in the
// rendered flag. Every parse error says what would have been accepted; the
// caller adds the config key.

// unit is one suffix of a quantity syntax and the number of base units it stands for.
type unit struct {
	suffix string
	factor int64
}

var quantityPattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$`)

// parseQuantity reads "<number><suffix>" against a table of suffixes. The
// number may be fractional as long as the product is a whole number of base
// units. Suffix matching is exact unless foldCase is set.
func parseQuantity(text string, units []unit, foldCase bool) (int64, bool) {
	m := quantityPattern.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	suffix := m[2]
	for _, u := range units {
		if suffix == u.suffix || (foldCase && strings.EqualFold(suffix, u.suffix)) {
			n, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return 0, false
			}
			v := n * float64(u.factor)
			if v > math.MaxInt64/2 || v != math.Trunc(v) {
				return 0, false
			}
			return int64(v), true
		}
	}
	return 0, false
}

// formatQuantity renders v with the largest suffix that divides it exactly.
// units must be ordered from largest to smallest and end with factor 1.
func formatQuantity(v int64, units []unit) string {
	for _, u := range units {
		if v != 0 && v%u.factor == 0 {
			return strconv.FormatInt(v/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10) + units[len(units)-1].suffix
}

const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// Size is a number of bytes written the way Docker, Compose and nginx write
// them: a number and a binary suffix, "128k", "10m", "768M", "1G", "1GiB".
// It is used for container memory, nginx buffers and Django upload limits.
type Size int64

var sizeFormat = []unit{{"G", GiB}, {"M", MiB}, {"K", KiB}, {"B", 1}}

// sizeSyntax is what ParseSize lets through to Docker's parser: a number,
// then at once a unit of at most G ("b", "k", "kb", "kib" … any case).
var sizeSyntax = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([bB]|[kKmMgG](?:[iI]?[bB])?)$`)

// ParseSize reads a Docker-style size with Docker's own parser, go-units'
// RAMInBytes (1024-based, any case, "b" or "ib" optional). It is stricter
// than Docker where Docker's leniency would hide a mistake:
//   - a bare number is refused: Docker reads it as bytes and Compose users
//     expect megabytes, so it is ambiguous;
//   - so are a space before the unit and units past G, which no setting
//     needs;
//   - a fraction must come to a whole number of bytes, which Docker would
//     silently round down.
func ParseSize(text string) (Size, error) {
	bad := fmt.Errorf("%q is not a size (examples: 512M, 1G, 128k)", text)
	trimmed := strings.TrimSpace(text)
	m := sizeSyntax.FindStringSubmatch(trimmed)
	if m == nil {
		return 0, bad
	}
	bytes, err := units.RAMInBytes(trimmed)
	if err != nil {
		return 0, bad
	}
	number, _ := strconv.ParseFloat(m[1], 64)
	unit, _ := units.RAMInBytes("1" + m[2])
	if exact := number * float64(unit); exact != float64(bytes) || exact > math.MaxInt64/2 {
		return 0, bad
	}
	return Size(bytes), nil
}

func (s Size) Bytes() int64 { return int64(s) }

// MiB returns the size in whole mebibytes, rounding down.
func (s Size) MiB() int { return int(int64(s) / MiB) }

// String renders "1G", "768M", "128K": the form Docker and Compose read.
func (s Size) String() string { return formatQuantity(int64(s), sizeFormat) }

// Compact renders the size in the lower-case syntax of nginx and of Docker's
// log options ("10m", "128k", "4m").
func (s Size) Compact() string {
	for _, u := range []unit{{"g", GiB}, {"m", MiB}, {"k", KiB}} {
		if s != 0 && int64(s)%u.factor == 0 {
			return strconv.FormatInt(int64(s)/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// PostgresSize is a memory setting in PostgreSQL's own syntax: a number and
// one of its case-sensitive units kB, MB, GB, TB (1024-based), "256MB".
// Parsed by hand: Postgres refuses what Docker's parser accepts ("256mb",
// "256M", "256 MB"), and the rendered flag must be in Postgres's units.
type PostgresSize int64

var postgresSizeUnits = []unit{{"TB", TiB}, {"GB", GiB}, {"MB", MiB}, {"kB", KiB}, {"B", 1}}

func ParsePostgresSize(text string) (PostgresSize, error) {
	v, ok := parseQuantity(text, postgresSizeUnits, false)
	if !ok {
		return 0, fmt.Errorf("%q is not a size (examples: 256MB, 1GB, 4MB; units kB, MB, GB, TB, case-sensitive)", text)
	}
	return PostgresSize(v), nil
}

func (s PostgresSize) Bytes() int64                 { return int64(s) }
func (s PostgresSize) String() string               { return formatQuantity(int64(s), postgresSizeUnits) }
func (s PostgresSize) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *PostgresSize) UnmarshalText(b []byte) error {
	v, err := ParsePostgresSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// RedisSize is a memory setting in Redis's syntax, where "512mb" is 512 MiB
// but "512m" is 512 million bytes; suffixes are case-insensitive. Parsed by
// hand: Docker's parser reads "512m" as 512 MiB, which Redis does not.
type RedisSize int64

var redisSizeUnits = []unit{
	{"gb", GiB}, {"mb", MiB}, {"kb", KiB},
	{"g", 1_000_000_000}, {"m", 1_000_000}, {"k", 1_000}, {"", 1},
}

var redisSizeFormat = []unit{{"gb", GiB}, {"mb", MiB}, {"kb", KiB}, {"", 1}}

func ParseRedisSize(text string) (RedisSize, error) {
	v, ok := parseQuantity(text, redisSizeUnits, true)
	if !ok {
		return 0, fmt.Errorf("%q is not a size (examples: 512mb, 1gb; Redis reads mb as MiB and m as millions of bytes)", text)
	}
	return RedisSize(v), nil
}

func (s RedisSize) Bytes() int64                 { return int64(s) }
func (s RedisSize) String() string               { return formatQuantity(int64(s), redisSizeFormat) }
func (s RedisSize) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *RedisSize) UnmarshalText(b []byte) error {
	v, err := ParseRedisSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Duration is a length of time written with the units ms, s, m, h, d and y
// (365 days), alone or combined as Go does: "10s", "1m30s", "30d", "1y".
// Docker, Traefik and nginx read what it renders; Django gets whole seconds.
type Duration time.Duration

// Seconds is a Duration of n seconds.
func Seconds(n int64) Duration { return Duration(n) * Duration(time.Second) }

const (
	Day  = 24 * time.Hour
	Year = 365 * Day
)

var durationUnits = []unit{
	{"y", int64(Year)}, {"d", int64(Day)}, {"h", int64(time.Hour)},
	{"m", int64(time.Minute)}, {"s", int64(time.Second)}, {"ms", int64(time.Millisecond)},
}

var durationPart = regexp.MustCompile(`^([0-9]+)(ms|s|m|h|d|y)`)

func ParseDuration(text string) (Duration, error) {
	bad := fmt.Errorf("%q is not a duration (examples: 10s, 500ms, 1m30s, 30d, 1y)", text)
	rest := text
	if rest == "" {
		return 0, bad
	}
	var total int64
	for rest != "" {
		m := durationPart.FindStringSubmatch(rest)
		if m == nil {
			return 0, bad
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return 0, bad
		}
		for _, u := range durationUnits {
			if u.suffix == m[2] {
				if n > (math.MaxInt64-total)/u.factor {
					return 0, bad
				}
				total += n * u.factor
			}
		}
		rest = rest[len(m[0]):]
	}
	return Duration(total), nil
}

// String renders the duration in the largest unit that divides it exactly,
// skipping minutes so that values read like the guide ("60s", "180s", "30d").
func (d Duration) String() string {
	for _, u := range []unit{{"y", int64(Year)}, {"d", int64(Day)}, {"h", int64(time.Hour)}, {"s", int64(time.Second)}, {"ms", int64(time.Millisecond)}} {
		if d != 0 && int64(d)%u.factor == 0 {
			return strconv.FormatInt(int64(d)/u.factor, 10) + u.suffix
		}
	}
	return time.Duration(d).String()
}

// Go renders the duration in whole seconds ("60s", "86400s") or else in Go's
// format: what time.ParseDuration, and so Traefik, reads. String's "30d" is
// not.
func (d Duration) Go() string {
	if d%Duration(time.Second) == 0 {
		return strconv.FormatInt(int64(d)/int64(time.Second), 10) + "s"
	}
	return time.Duration(d).String()
}

// Docker renders the duration the way the Docker provider reads it back from
// the engine (Go's time.Duration format, "1m0s"), so a refresh sees no drift.
func (d Duration) Docker() string { return time.Duration(d).String() }

// Service renders the duration the way the Docker provider reads a Swarm
// service's durations back: Go's format without a trailing zero unit ("2m",
// "1h30m", "1h", not "2m0s"). Written as Docker does, every preview would
// show a service's durations changed.
func (d Duration) Service() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Seconds returns the duration in whole seconds, rounding down.
func (d Duration) Seconds() int64 { return int64(time.Duration(d) / time.Second) }

// Milliseconds returns the duration in whole milliseconds.
func (d Duration) Milliseconds() int64 { return int64(time.Duration(d) / time.Millisecond) }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// CPUs is a number of CPUs, fractional allowed ("0.5", "1.5", "2.0"), as in
// Compose's deploy.resources and docker run --cpus.
type CPUs float64

var cpuCount = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

// ParseCPUs reads a CPU count with at most two decimals. The decimals are
// counted in the text: 4.1 is not a whole number of hundredths in binary.
func ParseCPUs(text string) (CPUs, error) {
	text = strings.TrimSpace(text)
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || !cpuCount.MatchString(text) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a CPU count (examples: 0.5, 1.5, 2.0; at most two decimals)", text)
	}
	return CPUs(v), nil
}

// String renders with at least one decimal ("2.0", "0.5"), the guide's spelling.
func (c CPUs) String() string {
	// To the thousandth: a sum of fractions (0.25 + 0.1 ...) carries
	// binary rounding noise that would print as 4.199999999999999.
	f := math.Round(float64(c)*1000) / 1000
	if f == math.Trunc(f) {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Shares maps a CPU count onto Docker's relative CPU weight, where 1024 is one
// CPU's worth. A single-host container has no hard CPU reservation; shares
// are what guarantees it that fraction of the host when CPUs are contended.
func (c CPUs) Shares() int { return int(math.Round(float64(c) * 1024)) }

// NanoCPUs is the unit of Swarm's resource limits and reservations.
func (c CPUs) NanoCPUs() int64 { return int64(math.Round(float64(c) * 1e9)) }

func (c CPUs) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

func (c *CPUs) UnmarshalText(b []byte) error {
	v, err := ParseCPUs(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Rate is a Django REST framework throttle rate, "1000/hour": a request count
// and a period of which DRF reads only the first letter (s, m, h or d).
type Rate struct {
	Count  int
	Period string
}

// ratePeriods are the first letters of the periods DRF knows.
const ratePeriods = "smhd"

func ParseRate(text string) (Rate, error) {
	bad := fmt.Errorf("%q is not a rate (examples: 1000/hour, 60/min, 10/s; periods second, minute, hour, day)", text)
	count, period, ok := strings.Cut(text, "/")
	if !ok || period == "" {
		return Rate{}, bad
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return Rate{}, bad
	}
	if !strings.ContainsRune(ratePeriods, rune(period[0])) {
		return Rate{}, bad
	}
	for _, r := range period {
		if r < 'a' || r > 'z' {
			return Rate{}, bad
		}
	}
	return Rate{Count: n, Period: period}, nil
}

func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Count, r.Period) }

func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
