package tests

// Traefik v3's rule syntax, read well enough to refuse what v3 refuses: an
// unknown matcher, a wrong number of arguments (v2's Host(`a`, `b`)), a path
// without its leading slash. Also the Docker provider's label constraints.

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ruleToken is one token of a Traefik rule or constraint expression.
type ruleToken struct {
	kind  byte // 'i' identifier, 's' string, or the operator's first byte
	text  string
	start int
}

func tokenizeRule(rule string) ([]ruleToken, error) {
	var out []ruleToken
	for i := 0; i < len(rule); {
		c := rule[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case strings.HasPrefix(rule[i:], "&&") || strings.HasPrefix(rule[i:], "||"):
			out = append(out, ruleToken{c, rule[i : i+2], i})
			i += 2
		case c == '!' || c == '(' || c == ')' || c == ',':
			out = append(out, ruleToken{c, string(c), i})
			i++
		case c == '`':
			j := strings.IndexByte(rule[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ` at %d", i)
			}
			out = append(out, ruleToken{'s', rule[i+1 : i+1+j], i})
			i += j + 2
		case c == '"':
			j := i + 1
			for j < len(rule) && rule[j] != '"' {
				if rule[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rule) {
				return nil, fmt.Errorf("unterminated \" at %d", i)
			}
			s, err := strconv.Unquote(rule[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad string at %d: %v", i, err)
			}
			out = append(out, ruleToken{'s', s, i})
			i = j + 1
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i
			for j < len(rule) && (rule[j] >= 'A' && rule[j] <= 'Z' || rule[j] >= 'a' && rule[j] <= 'z' || rule[j] >= '0' && rule[j] <= '9') {
				j++
			}
			out = append(out, ruleToken{'i', rule[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

// ruleMatcher is one call in a rule: Host(`example.com`).
type ruleMatcher struct {
	name string
	args []string
}

// parseRuleExpression reads matchers joined by &&, || and !, with
// parentheses, and returns the matchers and whether only && joins them.
func parseRuleExpression(rule string) ([]ruleMatcher, bool, error) {
	toks, err := tokenizeRule(rule)
	if err != nil {
		return nil, false, err
	}
	var matchers []ruleMatcher
	onlyAnd := true
	pos := 0
	next := func() *ruleToken {
		if pos < len(toks) {
			return &toks[pos]
		}
		return nil
	}
	var expr, term func() error
	term = func() error {
		tok := next()
		switch {
		case tok == nil:
			return errors.New("the rule ends where a matcher is expected")
		case tok.kind == '!':
			onlyAnd = false
			pos++
			return term()
		case tok.kind == '(':
			pos++
			if err := expr(); err != nil {
				return err
			}
			if t := next(); t == nil || t.kind != ')' {
				return fmt.Errorf("unclosed ( at %d", tok.start)
			}
			pos++
			return nil
		case tok.kind == 'i':
			m := ruleMatcher{name: tok.text}
			pos++
			if t := next(); t == nil || t.kind != '(' {
				return fmt.Errorf("%s at %d is not followed by (", tok.text, tok.start)
			}
			pos++
			for {
				t := next()
				if t != nil && t.kind == ')' && len(m.args) == 0 {
					break
				}
				if t == nil || t.kind != 's' {
					return fmt.Errorf("%s: expected a quoted argument at %d", m.name, tok.start)
				}
				m.args = append(m.args, t.text)
				pos++
				if t := next(); t != nil && t.kind == ',' {
					pos++
					continue
				}
				break
			}
			if t := next(); t == nil || t.kind != ')' {
				return fmt.Errorf("%s: unclosed argument list at %d", m.name, tok.start)
			}
			pos++
			matchers = append(matchers, m)
			return nil
		}
		return fmt.Errorf("unexpected %q at %d", tok.text, tok.start)
	}
	expr = func() error {
		if err := term(); err != nil {
			return err
		}
		for {
			t := next()
			if t == nil || (t.kind != '&' && t.kind != '|') {
				return nil
			}
			onlyAnd = onlyAnd && t.kind == '&'
			pos++
			if err := term(); err != nil {
				return err
			}
		}
	}
	if err := expr(); err != nil {
		return nil, false, err
	}
	if pos != len(toks) {
		return nil, false, fmt.Errorf("unexpected %q at %d", toks[pos].text, toks[pos].start)
	}
	return matchers, onlyAnd, nil
}

// traefikV3Matchers are the HTTP rule matchers of Traefik v3 and the numbers
// of arguments each takes (pkg/muxer/http/matcher.go). v2's multi-argument
// Host(`a`, `b`), HostHeader and Headers are gone.
var traefikV3Matchers = map[string][]int{
	"ClientIP": {1}, "Method": {1}, "Host": {1}, "HostRegexp": {1}, "Path": {1}, "PathRegexp": {1}, "PathPrefix": {1},
	"Header": {2}, "HeaderRegexp": {2}, "Query": {1, 2}, "QueryRegexp": {1, 2},
}

// checkRule reports a router rule Traefik v3 would refuse.
func checkRule(rule string) error {
	matchers, _, err := parseRuleExpression(rule)
	if err != nil {
		return err
	}
	for _, m := range matchers {
		counts, ok := traefikV3Matchers[m.name]
		if !ok {
			return fmt.Errorf("%s is not a Traefik v3 matcher (known: %s)", m.name, strings.Join(slices.Sorted(maps.Keys(traefikV3Matchers)), ", "))
		}
		if !slices.Contains(counts, len(m.args)) {
			return fmt.Errorf("%s takes %v arguments in Traefik v3, not %d (%q)", m.name, counts, len(m.args), m.args)
		}
		switch m.name {
		case "Path", "PathPrefix":
			if !strings.HasPrefix(m.args[0], "/") {
				return fmt.Errorf("%s(`%s`): the path must start with /", m.name, m.args[0])
			}
		case "HostRegexp", "PathRegexp":
			if _, err := regexp.Compile(m.args[0]); err != nil {
				return fmt.Errorf("%s: %v", m.name, err)
			}
		}
	}
	return nil
}

// parseLabelConstraint reads a Docker provider constraint made of
// Label(`key`, `value`) matchers joined by &&, as a label set.
func parseLabelConstraint(expr string) (map[string]string, error) {
	matchers, onlyAnd, err := parseRuleExpression(expr)
	if err != nil {
		return nil, err
	}
	if !onlyAnd {
		return nil, fmt.Errorf("%q: only Label matchers joined by && are understood here", expr)
	}
	out := map[string]string{}
	for _, m := range matchers {
		if m.name != "Label" || len(m.args) != 2 {
			return nil, fmt.Errorf("%q: %s(%d arguments) is not Label(`key`, `value`)", expr, m.name, len(m.args))
		}
		out[m.args[0]] = m.args[1]
	}
	return out, nil
}
