// Package monitoring checks the monitoring objects of the Helm chart
// (deploy/helm/sensornode/monitoring: the alerting rules and the Grafana
// dashboards) against the services: every metric a rule or a dashboard
// panel uses must be registered by a service, every alert has a promtool
// unit test (tests/*.yaml, run by make test-monitoring) and a runbook
// section in the chart README. Unit tests only: no network, no Prometheus.
package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/sensornode/sensornode/libs/svc"
	cameraproducer "github.com/sensornode/sensornode/services/camera-producer"
	cloudingesthdfs "github.com/sensornode/sensornode/services/cloud-ingest-hdfs"
	edgeforwarder "github.com/sensornode/sensornode/services/edge-forwarder"
	masterwatcher "github.com/sensornode/sensornode/services/master-watcher"
	tempproducer "github.com/sensornode/sensornode/services/temp-producer"
	"github.com/sensornode/sensornode/services/viewer"
)

const (
	chartDir      = "../helm/sensornode"
	rulesFile     = chartDir + "/monitoring/rules.yaml"
	dashboardGlob = chartDir + "/monitoring/dashboards/*.json"
)

// services are the services whose metrics the rules and dashboards may use.
var services = []struct {
	name     string
	register func(prometheus.Registerer)
}{
	{"camera-producer", cameraproducer.RegisterMetrics},
	{"temp-producer", tempproducer.RegisterMetrics},
	{"edge-forwarder", edgeforwarder.RegisterMetrics},
	{"cloud-ingest-hdfs", cloudingesthdfs.RegisterMetrics},
	{"master-watcher", masterwatcher.RegisterMetrics},
	{"viewer", viewer.RegisterMetrics},
}

// prometheusOwn are series Prometheus itself writes: for every target, and
// for alerts.
var prometheusOwn = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"}

// recorder is a Registerer that remembers what was registered through it.
type recorder struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descName reads a Desc's fully-qualified name from its String() (client
// golang has no accessor); the format is checked by the test finding names.
var descName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)

// seriesNames are the series names a family exposes, as the text
// exposition writes them: a histogram as _bucket, _sum and _count, a
// summary as itself, _sum and _count. Counters are named with their _total
// suffix already (client_golang exposes the name as given).
func seriesNames(name string, typ dto.MetricType) []string {
	switch typ {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	case dto.MetricType_SUMMARY:
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

// collectorType tells histograms and summaries (whose series names differ
// from the family's) from the rest.
func collectorType(c prometheus.Collector) dto.MetricType {
	switch v := c.(type) {
	case *prometheus.HistogramVec:
		return dto.MetricType_HISTOGRAM
	case *prometheus.SummaryVec:
		return dto.MetricType_SUMMARY
	case prometheus.Metric: // Histogram and Summary are alike as interfaces
		var m dto.Metric
		if v.Write(&m) == nil {
			switch {
			case m.Histogram != nil:
				return dto.MetricType_HISTOGRAM
			case m.Summary != nil:
				return dto.MetricType_SUMMARY
			}
		}
	}
	return dto.MetricType_UNTYPED
}

// registered builds each service's metrics on a fresh registry (the one
// svc.Start makes) through the service's own constructor and returns every
// series name with the services exporting it. Names come from Describe, so
// that vectors whose series are created only on use count too, and from
// Gather for the collectors registered by svc.NewRegistry.
func registered(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(name, service string) {
		if !slices.Contains(out[name], service) {
			out[name] = append(out[name], service)
		}
	}
	for _, s := range services {
		reg := svc.NewRegistry(svc.ReadBuildInfo(s.name))
		rec := &recorder{Registerer: reg}
		s.register(rec)
		if len(rec.collectors) == 0 {
			t.Errorf("%s registered no collector", s.name)
		}
		for _, c := range rec.collectors {
			ch := make(chan *prometheus.Desc, 64)
			go func() { c.Describe(ch); close(ch) }()
			for d := range ch {
				m := descName.FindStringSubmatch(d.String())
				if m == nil {
					t.Fatalf("%s: cannot read the name of %s", s.name, d)
				}
				name, err := strconv.Unquote(m[1])
				if err != nil {
					t.Fatalf("%s: %s: %v", s.name, d, err)
				}
				for _, n := range seriesNames(name, collectorType(c)) {
					add(n, s.name)
				}
			}
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s: gather: %v", s.name, err)
		}
		for _, mf := range mfs {
			for _, n := range seriesNames(mf.GetName(), mf.GetType()) {
				add(n, s.name)
			}
		}
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Record      string            `json:"record"`
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return out
}

// metricNames parses a PromQL expression and returns the metric names its
// selectors use.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			names = append(names, vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
		return nil
	})
	return names, nil
}

// use is a PromQL expression and where it is.
type use struct {
	where, expr string
}

// Grafana's macros, and the two forms of a query variable's query.
var (
	grafanaMacro = regexp.MustCompile(`\$\{?__[a-z_]+\}?`)
	labelValues  = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	queryResult  = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
)

// dashboardExprs returns the PromQL of a dashboard: every panel target's
// expr (rows' panels included) and every query variable's query, Grafana's
// macros ($__rate_interval, ...) replaced by a duration and custom
// variables by their current value.
func dashboardExprs(t *testing.T, file string, d map[string]any) []use {
	t.Helper()
	var out []use
	var panels func(ps []any)
	panels = func(ps []any) {
		for _, p := range ps {
			pm, _ := p.(map[string]any)
			title, _ := pm["title"].(string)
			targets, _ := pm["targets"].([]any)
			for _, tg := range targets {
				tm, _ := tg.(map[string]any)
				if e, ok := tm["expr"].(string); ok {
					out = append(out, use{fmt.Sprintf("%s panel %q", file, title), e})
				}
			}
			if sub, ok := pm["panels"].([]any); ok {
				panels(sub)
			}
		}
	}
	ps, _ := d["panels"].([]any)
	panels(ps)
	tmpl, _ := d["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	var custom []string // old, new, ... for strings.NewReplacer
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		if vm["type"] == "custom" {
			name, _ := vm["name"].(string)
			cur, _ := vm["current"].(map[string]any)
			val, _ := cur["value"].(string)
			custom = append(custom, "${"+name+"}", val, "$"+name, val)
		}
		if vm["type"] != "query" {
			continue
		}
		q, ok := vm["query"].(string)
		if !ok {
			qm, _ := vm["query"].(map[string]any)
			q, _ = qm["query"].(string)
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		} else if m := queryResult.FindStringSubmatch(q); m != nil {
			q = m[1]
		} else {
			t.Errorf("%s variable %v: query %q is neither label_values(selector, label) nor query_result(expr)", file, vm["name"], q)
			continue
		}
		out = append(out, use{fmt.Sprintf("%s variable %v", file, vm["name"]), q})
	}
	for i := range out {
		out[i].expr = strings.NewReplacer(custom...).Replace(grafanaMacro.ReplaceAllString(out[i].expr, "5m"))
	}
	return out
}

func readDashboards(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(dashboardGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards at %s (%v)", dashboardGlob, err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// TestMetricsAreRegistered: every metric name that an alerting or
// recording rule or a dashboard uses is exported by a service (or recorded
// by a rule, or written by Prometheus for every target).
func TestMetricsAreRegistered(t *testing.T) {
	known := registered(t)
	for _, n := range []string{"sensornode_build_info", "sensornode_ready", "go_goroutines"} {
		if len(known[n]) != len(services) {
			t.Errorf("%s registered by %v, want every service", n, known[n])
		}
	}
	recorded := map[string]bool{}
	var uses []use
	for _, r := range readRules(t) {
		if r.Record != "" {
			recorded[r.Record] = true
			uses = append(uses, use{"recording rule " + r.Record, r.Expr})
		} else {
			uses = append(uses, use{"alert " + r.Alert, r.Expr})
		}
	}
	for file, d := range readDashboards(t) {
		uses = append(uses, dashboardExprs(t, file, d)...)
	}
	unknown := map[string][]string{}
	used := 0
	for _, u := range uses {
		names, err := metricNames(u.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", u.where, err, u.expr)
			continue
		}
		if len(names) == 0 && !strings.HasPrefix(strings.TrimSpace(u.expr), "vector(") {
			t.Errorf("%s uses no metric: %s", u.where, u.expr)
		}
		for _, n := range names {
			used++
			if len(known[n]) == 0 && !recorded[n] && !slices.Contains(prometheusOwn, n) {
				unknown[n] = append(unknown[n], u.where)
			}
		}
	}
	if used == 0 {
		t.Fatal("no metric used by any rule or dashboard: the parsing is broken")
	}
	names := make([]string, 0, len(unknown))
	for n := range unknown {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("metric %s is registered by no service; used by %s", n, strings.Join(unknown[n], ", "))
	}
}

// TestAlertsAreDocumentedAndTested: each alert has a severity, a summary,
// a description and a runbook_url pointing at its section of the chart
// README (with a row in the README's alert table), and a promtool unit test.
func TestAlertsAreDocumentedAndTested(t *testing.T) {
	readme, err := os.ReadFile(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Glob("tests/*.yaml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in tests/ (%v)", err)
	}
	var testText strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		testText.Write(b)
	}
	const base = "https://github.com/sensornode/sensornode/blob/main/deploy/helm/sensornode/README.md#"
	seen := map[string]bool{}
	for _, r := range readRules(t) {
		if r.Alert == "" {
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if r.Annotations[a] == "" {
				t.Errorf("alert %s: no %s annotation", r.Alert, a)
			}
		}
		if want := base + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
		if !regexp.MustCompile(`(?m)^#+ ` + r.Alert + `$`).Match(readme) {
			t.Errorf("alert %s: no runbook section (a heading %q) in the chart README", r.Alert, r.Alert)
		}
		if !regexp.MustCompile(`(?m)^\| \[?` + "`?" + r.Alert + "`?").Match(readme) {
			t.Errorf("alert %s: no row in the chart README's alert table", r.Alert)
		}
		if !regexp.MustCompile(`alertname: ` + r.Alert + `\b`).MatchString(testText.String()) {
			t.Errorf("alert %s: no promtool unit test in tests/*.yaml", r.Alert)
		}
	}
}

// TestDashboards: each dashboard has a unique uid and title, takes its
// Prometheus data source from a variable (no installation's data source
// uid baked in), and every panel uses it.
func TestDashboards(t *testing.T) {
	uids, titles := map[string]string{}, map[string]string{}
	for file, d := range readDashboards(t) {
		uid, _ := d["uid"].(string)
		title, _ := d["title"].(string)
		if uid == "" || title == "" {
			t.Errorf("%s: uid %q, title %q: want both", file, uid, title)
		}
		if other, ok := uids[uid]; ok {
			t.Errorf("%s and %s: same uid %q", file, other, uid)
		}
		if other, ok := titles[title]; ok {
			t.Errorf("%s and %s: same title %q", file, other, title)
		}
		uids[uid], titles[title] = file, file
		tmpl, _ := d["templating"].(map[string]any)
		vars, _ := tmpl["list"].([]any)
		hasDS := false
		for _, v := range vars {
			vm, _ := v.(map[string]any)
			if vm["type"] == "datasource" && vm["name"] == "datasource" && vm["query"] == "prometheus" {
				hasDS = true
			}
		}
		if !hasDS {
			t.Errorf("%s: no datasource variable of type prometheus named datasource", file)
		}
		var check func(ps []any)
		check = func(ps []any) {
			for _, p := range ps {
				pm, _ := p.(map[string]any)
				if pm["type"] != "row" && pm["type"] != "text" {
					ds, _ := pm["datasource"].(map[string]any)
					if ds["uid"] != "${datasource}" {
						t.Errorf("%s panel %q: datasource %v, want uid ${datasource}", file, pm["title"], pm["datasource"])
					}
				}
				if sub, ok := pm["panels"].([]any); ok {
					check(sub)
				}
			}
		}
		ps, _ := d["panels"].([]any)
		if len(ps) == 0 {
			t.Errorf("%s: no panels", file)
		}
		check(ps)
	}
}
