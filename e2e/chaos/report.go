package chaos

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Header is the report's provenance.
type Header struct {
	Commit   string
	Command  string
	Backend  string
	Store    string // cloud-ingest-hdfs's picture store: files or avro
	Duration time.Duration
}

// Matrix is the Markdown fault matrix: per fault, times injected, recovery
// p50 and max, and items lost and duplicated in its windows.
func Matrix(h Header, tl Timeline, r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chaos run\n\n- commit: `%s`\n- seed: `%d`\n- command: `%s`\n- backend: %s\n- picture store: %s\n- workload duration: %v\n- checked against the ledger: %s\n- verdict: %s\n\n",
		h.Commit, tl.Seed, h.Command, h.Backend, h.Store, h.Duration, r.Checked, verdict(r))
	b.WriteString("| fault | injected | recovery p50 | recovery max | lost | duplicated |\n|---|---:|---:|---:|---:|---:|\n")
	byFault := map[Fault][]time.Duration{}
	var order []Fault
	for _, e := range tl.Events {
		if !slices.Contains(order, e.Step.Fault) {
			order = append(order, e.Step.Fault)
		}
		if e.Err == "" {
			byFault[e.Step.Fault] = append(byFault[e.Step.Fault], e.Recovery())
		}
	}
	for _, f := range order {
		ds := byFault[f]
		p50, mx := "-", "-"
		if len(ds) > 0 {
			slices.Sort(ds)
			p50, mx = fmtRecovery(ds[(len(ds)-1)/2]), fmtRecovery(ds[len(ds)-1])
			if ds[0] < 0 {
				mx = "never"
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %d |\n", f, len(ds), p50, mx, r.Lost[f], r.Duplicated[f])
	}
	fmt.Fprintf(&b, "| (outside any fault) | - | - | - | %d | %d |\n", r.Lost[""], r.Duplicated[""])
	if !r.OK() {
		fmt.Fprintf(&b, "\n## Violations\n\n```\n%s```\n", r.Failure(tl, 50))
	} else {
		fmt.Fprintf(&b, "\n```\n%s```\n", tl.String())
	}
	return b.String()
}

func verdict(r Result) string {
	if r.OK() {
		return "PASS"
	}
	return fmt.Sprintf("FAIL (%d violations)", len(r.Violations))
}

func fmtRecovery(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}

// SVG is the timeline: items in HDFS over time (pictures and readings, each
// scaled to its own maximum), fault windows (injected to healed) shaded and
// labelled, the recovery tail lighter.
func SVG(tl Timeline) string {
	const w, hgt, left, top, plotH = 1000.0, 360.0, 50.0, 20.0, 260.0
	end := tl.Start.Add(time.Second)
	for _, s := range tl.Samples {
		end = later(end, s.At)
	}
	for _, e := range tl.Events {
		end = later(end, later(e.Healed, e.Recovered))
	}
	span := end.Sub(tl.Start).Seconds()
	x := func(t time.Time) float64 { return left + (w-left-10)*t.Sub(tl.Start).Seconds()/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="10">`+"\n", w, hgt)
	fmt.Fprintf(&b, `<text x="%.0f" y="12">chaos seed %d: items in HDFS over time; shaded: fault injected..healed, light: healed..recovered</text>`+"\n", left, tl.Seed)
	for i, e := range tl.Events {
		if e.Injected.IsZero() {
			continue
		}
		healed := later(e.Injected, e.Healed)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#e66" fill-opacity="0.35"/>`+"\n", x(e.Injected), top, max(1, x(healed)-x(e.Injected)), plotH)
		if !e.Recovered.IsZero() {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#fc6" fill-opacity="0.3"/>`+"\n", x(healed), top, max(0, x(e.Recovered)-x(healed)), plotH)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" transform="rotate(60 %.1f %.0f)">%d %s</text>`+"\n", x(e.Injected), top+plotH+12, x(e.Injected), top+plotH+12, i+1, html.EscapeString(string(e.Step.Fault)))
	}
	maxP, maxR := 1, 1
	for _, s := range tl.Samples {
		maxP, maxR = max(maxP, s.Pictures), max(maxR, s.Readings)
	}
	line := func(color string, v func(Sample) float64) {
		var pts []string
		for _, s := range tl.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At), top+plotH-plotH*v(s)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color, strings.Join(pts, " "))
	}
	line("#236", func(s Sample) float64 { return float64(s.Pictures) / float64(maxP) })
	line("#2a2", func(s Sample) float64 { return float64(s.Readings) / float64(maxR) })
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, top+plotH, w-10, top+plotH)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">0 s</text><text x="%.0f" y="%.0f" text-anchor="end">%.0f s</text>`+"\n", left, top+plotH+24, w-10, top+plotH+24, span)
	fmt.Fprintf(&b, `<text x="5" y="%.0f" fill="#236">pictures (max %d)</text><text x="5" y="%.0f" fill="#2a2">readings (max %d)</text>`+"\n", hgt-18, maxP, hgt-6, maxR)
	b.WriteString("</svg>\n")
	return b.String()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Write puts report.md and timeline.svg into dir (created).
func Write(dir string, h Header, tl Timeline, r Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(Matrix(h, tl, r)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "timeline.svg"), []byte(SVG(tl)), 0o644)
}
