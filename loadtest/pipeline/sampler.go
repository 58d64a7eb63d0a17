package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/sensornode/sensornode/loadtest/procfs"
	"github.com/sensornode/sensornode/tools/localrun/promtext"
)

// Metrics a Sampler scrapes with ScrapeMetrics, beside each /proc sample.
const (
	MetricHeapInuse     = "go_memstats_heap_inuse_bytes"
	MetricKafkaBuffered = "sensornode_kafka_client_buffered_bytes"
	// MetricGoSys, MetricHeapIdle and MetricHeapReleased split what the Go
	// runtime holds: from the OS (sys), heap spans free (idle) and of
	// those given back (released).
	MetricGoSys        = "go_memstats_sys_bytes"
	MetricHeapIdle     = "go_memstats_heap_idle_bytes"
	MetricHeapReleased = "go_memstats_heap_released_bytes"
)

// Point is one /proc sample of a process.
type Point struct {
	PID      int
	At       time.Time
	CPU      time.Duration // cumulative user+system
	RSSBytes int64
	// RSSFileBytes is the file-backed part of RSSBytes (the binary and its
	// libraries); HWMBytes the peak RSS since the process started or since
	// the last ResetPeaks (VmHWM).
	RSSFileBytes, HWMBytes int64
	// HeapInuse and KafkaBuffered are the process's MetricHeapInuse and
	// MetricKafkaBuffered (summed over its clients), scraped right after
	// the /proc read; NaN when not scraped (ScrapeMetrics off, no admin
	// address, the scrape failed or lacked the metric).
	HeapInuse     float64
	KafkaBuffered float64
	// GoSys, HeapIdle and HeapReleased are MetricGoSys, MetricHeapIdle and
	// MetricHeapReleased, NaN as HeapInuse.
	GoSys, HeapIdle, HeapReleased float64
}

// Series is the samples of one process.
type Series struct {
	Name    string
	Service string
	PID     int
	// Admin is the process's admin address (its /metrics), if any.
	Admin  string
	Points []Point
	// Err is the last sampling error other than the process being gone.
	Err error
}

// Sampler reads CPU time and RSS of tracked processes every interval.
type Sampler struct {
	interval time.Duration
	mu       sync.Mutex
	series   map[string]*Series
	order    []string
	gone     map[string]bool
	// scrape fetches metrics from admin addresses; nil: /proc only.
	scrape *http.Client
	// onPoint, when set, sees every point after it was recorded.
	onPoint func(sr Series, p Point)
}

// ScrapeMetrics makes the sampler scrape MetricHeapInuse and
// MetricKafkaBuffered from the /metrics of every process tracked with an
// admin address at each of its samples, each scrape bounded by timeout.
// Call it before Run.
func (s *Sampler) ScrapeMetrics(timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scrape = &http.Client{Timeout: timeout}
}

// OnPoint calls f (from a sampling goroutine, several at once, without
// the sampler's lock; sr has no points) after every point recorded. Call
// it before Run.
func (s *Sampler) OnPoint(f func(sr Series, p Point)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPoint = f
}

// NewSampler samples every interval (1 s when zero).
func NewSampler(interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = time.Second
	}
	return &Sampler{interval: interval, series: map[string]*Series{}, gone: map[string]bool{}}
}

// Track starts sampling process pid under name (a restarted process with
// the same name continues its series under the new pid). It takes a first
// sample right away.
func (s *Sampler) Track(name, service string, pid int) { s.TrackAdmin(name, service, pid, "") }

// TrackAdmin is Track for a process with an admin server at admin
// (host:port), whose metrics are scraped when ScrapeMetrics is on.
func (s *Sampler) TrackAdmin(name, service string, pid int, admin string) {
	s.mu.Lock()
	sr, ok := s.series[name]
	if !ok {
		sr = &Series{Name: name, Service: service}
		s.series[name] = sr
		s.order = append(s.order, name)
	}
	sr.PID, sr.Admin = pid, admin
	s.gone[name] = false
	s.mu.Unlock()
	s.sampleOne(name)
}

// Run samples until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.SampleAll()
		}
	}
}

// sampleWorkers bounds the processes sampled at once (a /proc read, and
// with ScrapeMetrics a local HTTP scrape, each).
const sampleWorkers = 8

// SampleAll takes one sample of every tracked live process.
func (s *Sampler) SampleAll() {
	s.mu.Lock()
	names := append([]string(nil), s.order...)
	s.mu.Unlock()
	sem := make(chan struct{}, sampleWorkers)
	var wg sync.WaitGroup
	for _, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.sampleOne(n)
		})
	}
	wg.Wait()
}

func (s *Sampler) sampleOne(name string) {
	s.mu.Lock()
	sr := s.series[name]
	pid, gone, admin, client, onPoint := sr.PID, s.gone[name], sr.Admin, s.scrape, s.onPoint
	s.mu.Unlock()
	if gone {
		return
	}
	smp, err := procfs.Read(pid)
	pt := Point{PID: pid, At: smp.At, CPU: smp.CPU, RSSBytes: smp.RSSBytes, RSSFileBytes: smp.RSSFileBytes, HWMBytes: smp.HWMBytes}
	pt.HeapInuse, pt.KafkaBuffered, pt.GoSys, pt.HeapIdle, pt.HeapReleased = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if err == nil && client != nil && admin != "" {
		scrapeMemory(client, admin, &pt)
	}
	s.mu.Lock()
	if sr.PID != pid { // restarted meanwhile
		s.mu.Unlock()
		return
	}
	switch {
	case errors.Is(err, procfs.ErrGone):
		s.gone[name] = true
	case err != nil:
		sr.Err = err
	default:
		sr.Points = append(sr.Points, pt)
	}
	cp := *sr
	cp.Points = nil
	s.mu.Unlock()
	if err == nil && onPoint != nil {
		onPoint(cp, pt)
	}
}

// scrapeMemory reads a process's Go memory and Kafka client buffers from
// its /metrics into pt; what it could not get stays NaN.
func scrapeMemory(client *http.Client, admin string, pt *Point) {
	ctx, cancel := context.WithTimeout(context.Background(), client.Timeout)
	defer cancel()
	ss, err := promtext.Scrape(ctx, client, admin)
	if err != nil {
		return
	}
	for name, dst := range map[string]*float64{
		MetricHeapInuse: &pt.HeapInuse, MetricKafkaBuffered: &pt.KafkaBuffered,
		MetricGoSys: &pt.GoSys, MetricHeapIdle: &pt.HeapIdle, MetricHeapReleased: &pt.HeapReleased,
	} {
		if v, ok := ss.Sum(name, nil); ok {
			*dst = v
		}
	}
}

// ResetPeaks resets the peak RSS (Point.HWMBytes) of every tracked live
// process to its current RSS (procfs.ResetPeak), so that the points read
// after it give the peak since now, however short the interval being
// measured compared with the sampling interval.
func (s *Sampler) ResetPeaks() error {
	s.mu.Lock()
	var pids []int
	for _, n := range s.order {
		if !s.gone[n] {
			pids = append(pids, s.series[n].PID)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, pid := range pids {
		if err := procfs.ResetPeak(pid); err != nil && !errors.Is(err, procfs.ErrGone) {
			errs = append(errs, fmt.Errorf("reset peak of pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// Snapshot copies every series.
func (s *Sampler) Snapshot() []Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Series, 0, len(s.order))
	for _, n := range s.order {
		sr := *s.series[n]
		sr.Points = append([]Point(nil), sr.Points...)
		out = append(out, sr)
	}
	return out
}

// Usage is a process's resource use over a window.
type Usage struct {
	Name    string  `json:"name"`
	Service string  `json:"service"`
	Samples int     `json:"samples"`
	CPUCore float64 `json:"cpu_cores"` // CPU seconds per wall second (1 = one full core)
	RSSMean float64 `json:"rss_mean_bytes"`
	RSSMax  int64   `json:"rss_max_bytes"`
	// HWM is the peak RSS (VmHWM) read at the first point after the
	// window's end of the process that ran last in it (the last point in
	// the window when none follows): for a process started in the window,
	// or whose peak was reset at its start (Sampler.ResetPeaks), its peak
	// over the window, even between samples. 0: unknown.
	HWM int64 `json:"hwm_bytes,omitempty"`
}

// UsageIn computes a series' usage over [from, to]. CPU is the growth of
// cumulative CPU time between the first and last sample in the window,
// per wall time between them, summed over restarts of the same name (a
// new pid's counter starts from 0). Samples is 0 when none fall in the window.
func UsageIn(sr Series, from, to time.Time) Usage {
	u := Usage{Name: sr.Name, Service: sr.Service}
	var in []Point
	for _, p := range sr.Points {
		if !p.At.Before(from) && !p.At.After(to) {
			in = append(in, p)
		}
	}
	u.Samples = len(in)
	if len(in) > 0 {
		last := in[len(in)-1]
		u.HWM = last.HWMBytes
		for _, p := range sr.Points {
			if p.PID == last.PID && p.At.After(to) {
				u.HWM = p.HWMBytes
				break
			}
		}
	}
	if len(in) == 0 {
		u.RSSMean = math.NaN()
		u.CPUCore = math.NaN()
		return u
	}
	sum := 0.0
	cpu := time.Duration(0)
	for i, p := range in {
		sum += float64(p.RSSBytes)
		u.RSSMax = max(u.RSSMax, p.RSSBytes)
		if i > 0 {
			if p.PID != in[i-1].PID { // restarted: the new counter started from 0
				cpu += p.CPU
			} else {
				cpu += p.CPU - in[i-1].CPU
			}
		}
	}
	u.RSSMean = sum / float64(len(in))
	if wall := in[len(in)-1].At.Sub(in[0].At); wall > 0 {
		u.CPUCore = cpu.Seconds() / wall.Seconds()
	} else {
		u.CPUCore = math.NaN()
	}
	return u
}

// ServiceUsage aggregates the usages of one service's instances: the mean
// over instances of CPU and mean RSS, and the largest RSS of any.
type ServiceUsage struct {
	Service   string  `json:"service"`
	Instances int     `json:"instances"`
	CPUCore   float64 `json:"cpu_cores_per_instance"`
	RSSMean   float64 `json:"rss_mean_bytes"`
	RSSMax    int64   `json:"rss_max_bytes"`
}

// ByService aggregates usages per service, sorted by service name.
func ByService(us []Usage) []ServiceUsage {
	m := map[string]*ServiceUsage{}
	cpuN := map[string]int{}
	for _, u := range us {
		if u.Samples == 0 {
			continue
		}
		su, ok := m[u.Service]
		if !ok {
			su = &ServiceUsage{Service: u.Service}
			m[u.Service] = su
		}
		su.Instances++
		su.RSSMean += u.RSSMean
		su.RSSMax = max(su.RSSMax, u.RSSMax)
		if !math.IsNaN(u.CPUCore) {
			su.CPUCore += u.CPUCore
			cpuN[u.Service]++
		}
	}
	out := make([]ServiceUsage, 0, len(m))
	for _, su := range m {
		su.RSSMean /= float64(su.Instances)
		if n := cpuN[su.Service]; n > 0 {
			su.CPUCore /= float64(n)
		} else {
			su.CPUCore = math.NaN()
		}
		out = append(out, *su)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}
