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
	// HWM is the peak RSS since the process started or its peak was last
	// reset (VmHWM); it counts for a window with PeaksReset. 0 or NaN:
	// unknown.
	HWM float64
	// File is the file-backed part of RSS (binary and libraries, RssFile;
	// 0: unknown). GoSys, HeapIdle and HeapReleased are the Go runtime's
	// go_memstats_sys_bytes, _heap_idle_bytes and _heap_released_bytes
	// (NaN: not scraped).
	File, GoSys, HeapIdle, HeapReleased float64
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
	// PeaksReset says that every process's peak RSS was reset at From (or
	// the process started after it), so a sample's HWM in the window is
	// the process's peak in the window so far: the phase's RSS peak then
	// counts it, which a sample every second would miss in a short drain.
	PeaksReset bool
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
	in, _ := inWindow(windows, phase, t)
	return in
}

// inWindow is In, and whether the window it falls in had its peaks reset.
func inWindow(windows []Window, phase string, t time.Time) (in, reset bool) {
	for _, w := range windows {
		if w.Phase == phase && !t.Before(w.From) && !t.After(w.To) {
			return true, w.PeaksReset
		}
	}
	return false, false
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
					in, reset := inWindow(windows, ph, s.At)
					if !in {
						continue
					}
					r.add(s.RSS)
					if reset && s.HWM > r.peak {
						r.peak = s.HWM
					}
					h.add(s.Heap)
					k.add(s.Kafka)
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

// Attribution splits a service's peak in a phase into what holds it, at
// the sample with the highest RSS among those with the Go runtime's
// metrics (the peak itself, from HWM, may fall between samples). Bytes.
// The split is an estimate: the Go runtime's figures count what it
// obtained from the OS, not exactly what is resident.
type Attribution struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	// Peak is the phase's peak RSS (Row.RSS.Peak); RSS the sample's.
	Peak float64 `json:"peak_bytes"`
	RSS  float64 `json:"rss_bytes"`
	// File is the binary and its libraries (file-backed RSS).
	File float64 `json:"file_bytes"`
	// GoRuntime is what the Go runtime holds besides its heap (stacks,
	// span and GC metadata): sys minus the heap's spans.
	GoRuntime float64 `json:"go_runtime_bytes"`
	// HeapInuse is the Go heap in use; HeapFree heap spans free but not
	// yet returned to the OS (idle minus released).
	HeapInuse float64 `json:"go_heap_inuse_bytes"`
	HeapFree  float64 `json:"go_heap_free_bytes"`
	// Other is the anonymous memory the Go runtime does not account for:
	// librdkafka's and malloc's C memory on confluent, about 0 on franz
	// (RSS - File - (sys - released), at least 0).
	Other float64 `json:"other_bytes"`
	// Kafka is what the Kafka clients say they buffer (in Other on
	// confluent, in HeapInuse on franz).
	Kafka float64 `json:"kafka_buffered_bytes"`
}

// Floor is what no buffer setting moves: the binary and libraries and the
// Go runtime's own structures.
func (a Attribution) Floor() float64 { return a.File + a.GoRuntime }

// GoHeap is the Go heap, in use and freed but not yet returned: what
// GOMEMLIMIT (and GOGC) and the Go-side buffers move.
func (a Attribution) GoHeap() float64 { return a.HeapInuse + a.HeapFree }

// Attribute gives, per service with samples in phase, the split of its
// peak at the highest sample with the Go runtime's metrics; services
// without such a sample are left out.
func Attribute(procs []Proc, windows []Window, services []string, phase string) []Attribution {
	rows := Table(procs, windows, services)
	var out []Attribution
	for _, svc := range services {
		row, ok := Find(rows, svc, phase)
		if !ok {
			continue
		}
		var best *Sample
		var inst string
		for _, p := range procs {
			if p.Service != svc {
				continue
			}
			for i := range p.Samples {
				s := &p.Samples[i]
				if !In(windows, phase, s.At) || math.IsNaN(s.GoSys) || math.IsNaN(s.Heap) || math.IsNaN(s.HeapIdle) || math.IsNaN(s.HeapReleased) {
					continue
				}
				if best == nil || s.RSS > best.RSS {
					best, inst = s, p.Name
				}
			}
		}
		if best == nil {
			continue
		}
		a := Attribution{Service: svc, Instance: inst, Peak: row.RSS.Peak, RSS: best.RSS, File: best.File,
			HeapInuse: best.Heap, HeapFree: best.HeapIdle - best.HeapReleased, Kafka: best.Kafka}
		a.GoRuntime = max(0, best.GoSys-best.Heap-best.HeapIdle)
		a.Other = max(0, best.RSS-best.File-(best.GoSys-best.HeapReleased))
		out = append(out, a)
	}
	return out
}
