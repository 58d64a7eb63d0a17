// Package memory aggregates the load test's memory samples into the
// report's memory table: per service and phase (rest, steady, drain) the
// mean and peak of the process's resident memory (RSS, from /proc), of
// its Go heap in use (go_memstats_heap_inuse_bytes) and of the bytes its
// Kafka client holds (sensornode_kafka_client_buffered_bytes, summed over
// its clients), so that a reader sees what is the runtime's floor, what is
// Go heap and what is the Kafka client's own buffers (librdkafka's lie
// outside the Go heap; franz-go's inside it).
//
// Everything here is pure: samples and phase windows are passed in.
package memory

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Phases of the memory table, in order.
const (
	// PhaseRest is the services ready and idle, before the first picture.
	PhaseRest = "rest"
	// PhaseSteady is the steady phases (pictures at the offered rate).
	PhaseSteady = "steady"
	// PhaseDrain is the drains (a backlog forwarded and stored at once).
	PhaseDrain = "drain"
)

// Phases lists the phases in table order.
var Phases = []string{PhaseRest, PhaseSteady, PhaseDrain}

// Sample is one reading of a process. Heap and Kafka are NaN when the
// process's metrics could not be scraped at that time.
type Sample struct {
	At    time.Time
	RSS   float64 // bytes
	Heap  float64 // go_memstats_heap_inuse_bytes
	Kafka float64 // sensornode_kafka_client_buffered_bytes, all clients
}

// Proc is the samples of one process (one instance of a service).
type Proc struct {
	Name, Service string
	Samples       []Sample
}

// Window is one interval of a phase; a phase may have several (one drain
// per picture size).
type Window struct {
	Phase    string
	From, To time.Time
	// Label names the window on a chart ("drain 640x480"); "" : Phase.
	Label string
}

// Stat is a mean and a peak over samples; both NaN when N is 0.
type Stat struct {
	Mean float64 `json:"mean_bytes"`
	Peak float64 `json:"peak_bytes"`
	N    int     `json:"samples"`
}

// Row is one service in one phase: per instance, the mean over the
// instances of each one's mean, and the peak of any instance.
type Row struct {
	Service   string `json:"service"`
	Phase     string `json:"phase"`
	Instances int    `json:"instances"`
	RSS       Stat   `json:"rss"`
	Heap      Stat   `json:"go_heap_inuse"`
	Kafka     Stat   `json:"kafka_buffered"`
}

// acc accumulates the values of one quantity.
type acc struct {
	sum, peak float64
	n         int
}

func (a *acc) add(v float64) {
	if math.IsNaN(v) {
		return
	}
	if a.n == 0 || v > a.peak {
		a.peak = v
	}
	a.sum += v
	a.n++
}

func (a acc) stat() Stat {
	if a.n == 0 {
		return Stat{Mean: math.NaN(), Peak: math.NaN()}
	}
	return Stat{Mean: a.sum / float64(a.n), Peak: a.peak, N: a.n}
}

// In reports whether t falls in any window of phase (ends included).
func In(windows []Window, phase string, t time.Time) bool {
	for _, w := range windows {
		if w.Phase == phase && !t.Before(w.From) && !t.After(w.To) {
			return true
		}
	}
	return false
}

// Table aggregates procs over the phases of windows: one row per service
// and phase with at least one instance sampled in it, ordered by services
// (in the order given; services not listed are left out) then Phases.
func Table(procs []Proc, windows []Window, services []string) []Row {
	var rows []Row
	for _, svc := range services {
		for _, ph := range Phases {
			row := Row{Service: svc, Phase: ph}
			var rss, heap, kafka service
			for _, p := range procs {
				if p.Service != svc {
					continue
				}
				var r, h, k acc
				for _, s := range p.Samples {
					if In(windows, ph, s.At) {
						r.add(s.RSS)
						h.add(s.Heap)
						k.add(s.Kafka)
					}
				}
				if r.n == 0 {
					continue
				}
				row.Instances++
				rss.add(r)
				heap.add(h)
				kafka.add(k)
			}
			if row.Instances == 0 {
				continue
			}
			row.RSS, row.Heap, row.Kafka = rss.stat(), heap.stat(), kafka.stat()
			rows = append(rows, row)
		}
	}
	return rows
}

// service accumulates one quantity over a service's instances: the mean
// of their means, the peak of their peaks, every sample counted.
type service struct {
	means acc
	peak  float64
	n     int
}

func (s *service) add(in acc) {
	if in.n == 0 {
		return
	}
	st := in.stat()
	s.means.add(st.Mean)
	if s.n == 0 || st.Peak > s.peak {
		s.peak = st.Peak
	}
	s.n += in.n
}

func (s service) stat() Stat {
	if s.n == 0 {
		return Stat{Mean: math.NaN(), Peak: math.NaN()}
	}
	return Stat{Mean: s.means.sum / float64(s.means.n), Peak: s.peak, N: s.n}
}

// Find returns the row of service in phase.
func Find(rows []Row, service, phase string) (Row, bool) {
	i := slices.IndexFunc(rows, func(r Row) bool { return r.Service == service && r.Phase == phase })
	if i < 0 {
		return Row{}, false
	}
	return rows[i], true
}

// SumMeanRSS is the sum over services of their mean RSS per instance in
// phase: what one node running one instance of each uses. ok is false
// when any of them has no row (the sum would undercount).
func SumMeanRSS(rows []Row, phase string, services []string) (sum float64, ok bool) {
	for _, s := range services {
		r, found := Find(rows, s, phase)
		if !found || math.IsNaN(r.RSS.Mean) {
			return math.NaN(), false
		}
		sum += r.RSS.Mean
	}
	return sum, len(services) > 0
}

// Ratio is a / b; NaN when either is unknown or b is not positive.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 || a < 0 {
		return math.NaN()
	}
	return a / b
}

// Span is a window in seconds since a chart's origin.
type Span struct {
	Label    string
	From, To float64
}

// Spans returns the windows of phase as seconds since t0, clipped to
// [t0, end], in time order, labelled, for marking them on a chart.
// Windows entirely outside are left out.
func Spans(windows []Window, phase string, t0, end time.Time) []Span {
	var out []Span
	for _, w := range windows {
		if w.Phase != phase || !w.To.After(t0) || !w.From.Before(end) || !w.To.After(w.From) {
			continue
		}
		from, to := w.From, w.To
		if from.Before(t0) {
			from = t0
		}
		if to.After(end) {
			to = end
		}
		l := w.Label
		if l == "" {
			l = w.Phase
		}
		out = append(out, Span{Label: l, From: from.Sub(t0).Seconds(), To: to.Sub(t0).Seconds()})
	}
	slices.SortStableFunc(out, func(a, b Span) int { return cmp.Compare(a.From, b.From) })
	return out
}
