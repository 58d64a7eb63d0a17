package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraper reads the services' /metrics and evaluates the queries over the
// samples itself.
type scraper struct {
	client  *http.Client
	targets []target
}

// target is one admin endpoint; node names the sensor node its samples
// belong to ("" for cloud services).
type target struct {
	node, addr string
}

// parseTarget reads "host:port" or "node=host:port".
func parseTarget(s string) (target, error) {
	var t target
	if n, a, ok := strings.Cut(s, "="); ok {
		t.node, s = n, a
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return t, fmt.Errorf("metrics target %q: want host:port or node=host:port: %w", s, err)
	}
	t.addr = s
	return t, nil
}

// sample is one scraped value with its labels, the target's node and job
// added.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (s *scraper) name() string { return "scrape" }
func (s *scraper) kind() string { return "scrape" }

func (s *scraper) run(ctx context.Context, qs []query) ([][]series, []error) {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		samples []sample
		errs    []error
		reached int
	)
	for _, t := range s.targets {
		wg.Go(func() {
			got, err := s.scrape(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("scrape %s: %w", t.addr, err))
				return
			}
			reached++
			samples = append(samples, got...)
		})
	}
	wg.Wait()
	out := make([][]series, len(qs))
	if reached == 0 {
		return out, errs
	}
	for i, q := range qs {
		out[i] = q.eval(samples)
		if out[i] == nil {
			out[i] = []series{} // answered, empty
		}
	}
	return out, errs
}

// maxScrape bounds one target's answer.
const maxScrape = 16 << 20

func (s *scraper) scrape(ctx context.Context, t target) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, err
	}
	job := ""
	if bi := fams["sensornode_build_info"]; bi != nil && len(bi.GetMetric()) > 0 {
		for _, l := range bi.GetMetric()[0].GetLabel() {
			if l.GetName() == "service" {
				job = l.GetValue()
			}
		}
	}
	var out []sample
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if _, ok := labels["node"]; !ok && t.node != "" {
				labels["node"] = t.node
			}
			if _, ok := labels["job"]; !ok {
				labels["job"] = job
			}
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			default:
				continue // histograms and summaries: not queried
			}
			out = append(out, sample{name: name, labels: labels, value: v})
		}
	}
	return out, nil
}
