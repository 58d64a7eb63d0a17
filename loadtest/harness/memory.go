package harness

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sensornode/sensornode/loadtest/memory"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/report"
)

// restPhase names the rest window on the timeline: every service ready,
// no picture yet.
const restPhase = "rest"

// defaultRest is how long the services are sampled at rest per backend:
// an idle process's RSS is flat, so a few samples (one per second, and
// one at the end) give its mean.
const defaultRest = 3 * time.Second

// memoryServices are the services of the memory table, in its order.
var memoryServices = []string{pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest}

// perNodeServices run once per node (master-watcher too on a real node;
// the harness does not run it).
var perNodeServices = []string{pipeline.CameraProducer, pipeline.TempProducer}

// memoryWindows turns a backend's timeline into the memory table's
// phases: "rest" into rest, "steady/<size>" into steady, "drain/<size>"
// into drain; the other spans (head to head, inside a drain) are left out.
func memoryWindows(timeline []span, backend string) []memory.Window {
	var out []memory.Window
	for _, s := range timeline {
		if s.Backend != backend {
			continue
		}
		name, _, _ := strings.Cut(s.Name, "/")
		w := memory.Window{Label: strings.ReplaceAll(s.Name, "/", " "), From: s.From, To: s.To}
		switch name {
		case restPhase:
			w.Phase = memory.PhaseRest
		case "steady":
			w.Phase = memory.PhaseSteady
		case "drain":
			// drain resets every process's peak at its start.
			w.Phase, w.PeaksReset = memory.PhaseDrain, true
		default:
			continue
		}
		out = append(out, w)
	}
	return out
}

// memoryProcs converts the sampler's series of the services.
func memoryProcs(series []pipeline.Series) []memory.Proc {
	var out []memory.Proc
	for _, sr := range series {
		if !isService(sr.Service) {
			continue
		}
		mp := memory.Proc{Name: sr.Name, Service: sr.Service}
		for _, p := range sr.Points {
			mp.Samples = append(mp.Samples, memory.Sample{At: p.At, RSS: float64(p.RSSBytes), Heap: p.HeapInuse, Kafka: p.KafkaBuffered,
				HWM: float64(p.HWMBytes), File: float64(p.RSSFileBytes), GoSys: p.GoSys, HeapIdle: p.HeapIdle, HeapReleased: p.HeapReleased})
		}
		out = append(out, mp)
	}
	return out
}

// fillMemory computes the memory table of every backend's result.
func (h *Harness) fillMemory() {
	h.profiler.wait()
	procs := memoryProcs(h.sampler.Snapshot())
	h.mu.Lock()
	timeline := append([]span(nil), h.timeline...)
	h.mu.Unlock()
	for i := range h.res.Backends {
		be := &h.res.Backends[i]
		windows := memoryWindows(timeline, be.Backend)
		rows := memory.Table(procs, windows, memoryServices)
		be.Memory = rows
		be.DrainAttribution = memory.Attribute(procs, windows, memoryServices, memory.PhaseDrain)
		be.PerNodeServices = perNodeServices
		be.PerNodeRestRSS, _ = memory.SumMeanRSS(rows, memory.PhaseRest, perNodeServices)
		be.HeapProfiles = h.profiler.profiles(be.Backend)
	}
}

// profiler fetches a service's Go heap profile whenever its RSS rises
// above its highest so far in the current drain, so that the last profile
// written is the one nearest the drain's peak. One fetch per service at a
// time: a rise during a fetch is taken by the next sample above it.
type profiler struct {
	dir    string // results directory
	client *http.Client
	mu     sync.Mutex
	// backend and phase are the drain under way ("" none).
	backend, phase string
	state          map[string]*profileState
	order          []string
	wg             sync.WaitGroup
}

type profileState struct {
	prof     report.HeapProfile
	backend  string
	inflight bool
	// next is a higher sample seen during a fetch: fetched after it.
	next *profilePoint
}

type profilePoint struct {
	sr pipeline.Series
	p  pipeline.Point
}

func newProfiler(dir string) *profiler {
	return &profiler{dir: dir, client: &http.Client{Timeout: 10 * time.Second},
		state: map[string]*profileState{}}
}

// setPhase starts (phase "drain/<size>") or ends ("") a backend's drain.
func (pr *profiler) setPhase(backend, phase string) {
	pr.mu.Lock()
	pr.backend, pr.phase = backend, phase
	pr.mu.Unlock()
}

// profileFile is where the heap profile of service in a backend's phase
// goes, relative to the results directory.
func profileFile(backend, phase, service string) string {
	return filepath.Join("profiles", backend, strings.ReplaceAll(phase, "/", "-"), service+".heap.pb.gz")
}

// point is the sampler's hook.
func (pr *profiler) point(sr pipeline.Series, p pipeline.Point) {
	if !isService(sr.Service) || sr.Admin == "" {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	backend, phase := pr.backend, pr.phase
	if phase == "" {
		return
	}
	key := backend + "|" + phase + "|" + sr.Service
	st, ok := pr.state[key]
	if !ok {
		st = &profileState{backend: backend, prof: report.HeapProfile{Service: sr.Service, Phase: phase,
			File: profileFile(backend, phase, sr.Service), RSS: math.NaN(), PeakRSS: math.NaN()}}
		pr.state[key] = st
		pr.order = append(pr.order, key)
	}
	rss := float64(p.RSSBytes)
	if !math.IsNaN(st.prof.PeakRSS) && rss <= st.prof.PeakRSS {
		return
	}
	st.prof.PeakRSS = rss
	if st.inflight {
		st.next = &profilePoint{sr, p}
		return
	}
	pr.start(st, sr, p)
}

// start fetches a profile for the sample p of sr (under pr.mu); when it
// is done, it fetches again for a higher sample seen meanwhile.
func (pr *profiler) start(st *profileState, sr pipeline.Series, p pipeline.Point) {
	st.inflight = true
	pr.wg.Go(func() {
		err := pr.fetch(sr.Admin, st.prof.File)
		pr.mu.Lock()
		defer pr.mu.Unlock()
		st.inflight = false
		switch {
		case err == nil:
			st.prof.Err = ""
			st.prof.Instance, st.prof.At, st.prof.RSS = sr.Name, p.At, float64(p.RSSBytes)
			st.prof.HeapInuse, st.prof.KafkaBuffered = p.HeapInuse, p.KafkaBuffered
		case st.prof.Instance == "": // keep an earlier good profile
			st.prof.Err = err.Error()
			st.prof.Instance, st.prof.At, st.prof.RSS = sr.Name, p.At, float64(p.RSSBytes)
			st.prof.HeapInuse, st.prof.KafkaBuffered = math.NaN(), math.NaN()
		}
		if n := st.next; n != nil {
			st.next = nil
			pr.start(st, n.sr, n.p)
		}
	})
}

// fetch writes admin's /debug/pprof/heap to file (relative to the
// results directory), replacing the previous one only when complete.
func (pr *profiler) fetch(admin, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pr.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/debug/pprof/heap", nil)
	if err != nil {
		return err
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile from %s: %s", admin, resp.Status)
	}
	path := filepath.Join(pr.dir, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("heap profile from %s: %w", admin, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// wait waits for the fetches under way.
func (pr *profiler) wait() { pr.wg.Wait() }

// profiles lists a backend's heap profiles in the order first seen.
func (pr *profiler) profiles(backend string) []report.HeapProfile {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var out []report.HeapProfile
	for _, k := range pr.order {
		if st := pr.state[k]; st.backend == backend {
			out = append(out, st.prof)
		}
	}
	return out
}

// drainSpans marks a backend's drains on a chart whose x axis is seconds
// since t0.
func drainSpans(timeline []span, backend string, t0, end time.Time) []memory.Span {
	return memory.Spans(memoryWindows(timeline, backend), memory.PhaseDrain, t0, end)
}
