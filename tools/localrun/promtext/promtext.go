// Package promtext parses the Prometheus text exposition format (what a
// service's /metrics serves) into samples, and scrapes an endpoint.
package promtext

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one line of the exposition: a metric name (for histograms and
// summaries including the _bucket/_sum/_count suffix), its labels and
// value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed exposition.
type Samples []Sample

// ErrSyntax reports a malformed line.
var ErrSyntax = errors.New("exposition syntax")

// Parse reads the text format. Comment (# HELP, # TYPE) and blank lines are
// skipped; timestamps after the value are ignored.
func Parse(r io.Reader) (Samples, error) {
	var out Samples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLine(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("%w: %q", ErrSyntax, line)
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		var err error
		if rest, err = parseLabels(rest[1:], s.Labels); err != nil {
			return s, fmt.Errorf("%w: %q: %v", ErrSyntax, line, err)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("%w: %q: want value [timestamp]", ErrSyntax, line)
	}
	v, err := parseValue(fields[0])
	if err != nil {
		return s, fmt.Errorf("%w: %q: %v", ErrSyntax, line, err)
	}
	s.Value = v
	return s, nil
}

// parseLabels parses `a="x",b="y"}` and returns what follows the brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", errors.New("label without =")
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return "", errors.New("label value not quoted")
		}
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[j])
				}
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		if j >= len(s) {
			return "", errors.New("unterminated label value")
		}
		into[name] = b.String()
		s = strings.TrimLeft(s[j+1:], " \t")
		s = strings.TrimPrefix(s, ",")
	}
}

func parseValue(v string) (float64, error) {
	switch v {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(v, 64)
}

// Sum adds the values of every sample named name whose labels include all
// of match; ok is false when no sample matched.
func (ss Samples) Sum(name string, match map[string]string) (sum float64, ok bool) {
	for _, s := range ss {
		if s.Name != name || !matches(s.Labels, match) {
			continue
		}
		sum += s.Value
		ok = true
	}
	return sum, ok
}

// Max returns the largest value of the matching samples.
func (ss Samples) Max(name string, match map[string]string) (mx float64, ok bool) {
	mx = math.Inf(-1)
	for _, s := range ss {
		if s.Name != name || !matches(s.Labels, match) {
			continue
		}
		mx = max(mx, s.Value)
		ok = true
	}
	if !ok {
		return 0, false
	}
	return mx, true
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Scrape fetches and parses http://addr/metrics.
func Scrape(ctx context.Context, client *http.Client, addr string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	return Parse(resp.Body)
}
