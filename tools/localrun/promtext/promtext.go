// Package promtext scrapes a service's /metrics and flattens the
// exposition into samples that the load test sums and compares by name and
// labels. Parsing is expfmt's, the parser Prometheus itself uses; this
// package only flattens its metric families into one Sample per line of
// the text format.
package promtext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

// ErrSyntax reports malformed input.
var ErrSyntax = errors.New("exposition syntax")

// Parse reads the text format (version 0.0.4, what client_golang serves
// without content negotiation). Samples come ordered by metric family name,
// then as exposed; timestamps are ignored. A histogram without a +Inf
// bucket gets one from its count, as Prometheus does.
func Parse(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		if _, ok := errors.AsType[expfmt.ParseError](err); ok {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return nil, err
	}
	var out Samples
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, fams[name])
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			labels := make(map[string]string, len(s.Metric))
			for k, v := range s.Metric {
				if k != model.MetricNameLabel {
					labels[string(k)] = string(v)
				}
			}
			out = append(out, Sample{Name: string(s.Metric[model.MetricNameLabel]), Labels: labels, Value: float64(s.Value)})
		}
	}
	return out, nil
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
