// Package spool is the camera producer's durable queue: a directory of
// JPEG files. It watches the directory (inotify plus periodic rescans),
// decides when a file is complete, hands complete files out oldest first,
// and deletes (or archives) a file only after its delivery is confirmed.
// Junk goes to a quarantine directory with a reason file.
package spool

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Config configures a Watcher.
type Config struct {
	Dir           string
	QuarantineDir string
	ArchiveDir    string   // "": delete after the ack
	Ignore        []string // base-name globs never picked up
	Names         NameTimes
	// Settle: a file without a close/rename event is complete once its size
	// and mtime have not changed for this long (and it ends with EOI).
	Settle time.Duration
	// PartialTimeout: a file that has not grown for this long and still
	// lacks its EOI marker (or is empty) is quarantined as truncated.
	PartialTimeout time.Duration
	// Rescan is the period of full directory scans, the safety net for
	// missed inotify events (network or hostPath mounts, queue overflow).
	Rescan time.Duration
	// Tick is how often files being written are looked at again.
	Tick time.Duration
	// RetryMin and RetryMax bound the per-file retry backoff.
	RetryMin, RetryMax time.Duration
	// Disk guard: 0 means no limit.
	MaxFiles int
	MaxBytes int64
	Guard    GuardPolicy
	// MaxPictureBytes returns the largest file accepted (the topic's limit
	// less headroom); nil or <= 0: no limit here.
	MaxPictureBytes func() int64
	// DisableInotify relies on rescans alone (network file systems, where
	// writes by other machines raise no inotify events).
	DisableInotify bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.Rescan <= 0 {
		c.Rescan = 10 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(30*time.Second, c.RetryMin)
	}
	if c.Guard == "" {
		c.Guard = GuardWarn
	}
	if c.QuarantineDir == "" {
		c.QuarantineDir = filepath.Join(c.Dir, ".quarantine")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Item is a complete file handed out for sending.
type Item struct {
	Name         string
	Path         string
	Size         int64
	ModTime      time.Time
	CapturedAt   time.Time // from the name, else ModTime; UTC
	TimeFromName bool
	DetectedAt   time.Time // when it was found complete
	Attempt      int       // 1 on the first try
	gen          uint64
}

type fileState int

const (
	stWaiting  fileState = iota // not complete yet
	stQueued                    // complete, in the ready queue
	stInflight                  // handed out, result pending
	stBackoff                   // failed, waiting to be queued again
)

type entry struct {
	name       string
	size       int64
	mtime      time.Time
	changedAt  time.Time // last observed change; zero: only mtime known
	closed     bool      // close/rename event since the last change
	st         fileState
	seq        uint64
	gen        uint64
	attempts   int
	notBefore  time.Time
	detectedAt time.Time
	firstFail  time.Time
	heapIdx    int
	// quarantine is the cause of a quarantine that failed (stBackoff):
	// tick tries the quarantine again instead of queueing the file.
	quarantine error
}

// Watcher owns the directory's state; run it with Run.
type Watcher struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	entries map[string]*entry
	ready   readyHeap
	seq     uint64
	gen     uint64
	files   int
	bytes   int64
	tripped bool
	in      *inotify
	events  chan fsEvent
	inDone  chan struct{}
	waiting map[*entry]struct{}
	backoff map[*entry]struct{}

	next chan Item

	results *svc.Mailbox[done] // what Done reports, from the delivery goroutine
}

// New checks the directories and prepares a Watcher.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Watcher, error) {
	cfg.defaults()
	if cfg.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	for _, d := range []string{cfg.Dir, cfg.QuarantineDir, cfg.ArchiveDir} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return &Watcher{
		cfg: cfg, log: log, m: m,
		entries: map[string]*entry{},
		waiting: map[*entry]struct{}{},
		backoff: map[*entry]struct{}{},
		next:    make(chan Item),
		results: svc.NewMailbox[done](),
	}, nil
}

// Next blocks until a complete file is ready to send, oldest first.
func (w *Watcher) Next(ctx context.Context) (Item, error) {
	select {
	case it := <-w.next:
		return it, nil
	case <-ctx.Done():
		return Item{}, ctx.Err()
	}
}

// Run watches the directory until ctx is done. Results reported before it
// returns are applied; later ones are dropped (the files stay and are sent
// again by the next run: at-least-once).
func (w *Watcher) Run(ctx context.Context) error {
	if w.cfg.DisableInotify {
		w.log.Info("inotify disabled, relying on rescans", "dir", w.cfg.Dir, "rescan", w.cfg.Rescan)
	} else if err := w.startInotify(); err != nil {
		w.log.Error("inotify unavailable, relying on rescans", "dir", w.cfg.Dir, "err", err, "rescan", w.cfg.Rescan)
	}
	defer w.stopInotify()
	w.scan(true)
	tick := time.NewTicker(w.cfg.Tick)
	defer tick.Stop()
	rescan := time.NewTicker(w.cfg.Rescan)
	defer rescan.Stop()
	for {
		var next chan Item
		var head Item
		if w.ready.Len() > 0 {
			next = w.next
			head = w.item(w.ready[0])
		}
		select {
		case <-ctx.Done():
			w.applyResults()
			return nil
		case ev, ok := <-w.events:
			if !ok {
				w.stopInotify()
				continue
			}
			w.handleEvent(ev)
		case <-w.results.Ready():
			w.applyResults()
		case <-tick.C:
			w.tick()
		case <-rescan.C:
			if w.in == nil && !w.cfg.DisableInotify {
				if err := w.startInotify(); err == nil {
					w.log.Info("inotify watch restored", "dir", w.cfg.Dir)
				}
			}
			w.scan(false)
		case next <- head:
			w.setState(w.ready[0], stInflight)
		}
	}
}

func (w *Watcher) startInotify() error {
	in, err := newInotify(w.cfg.Dir)
	if err != nil {
		w.m.Errors.WithLabelValues("inotify").Inc()
		return err
	}
	w.in = in
	w.events = make(chan fsEvent, 4096)
	w.inDone = make(chan struct{})
	go func(events chan fsEvent, done chan struct{}) {
		defer close(done)
		in.run(events)
	}(w.events, w.inDone)
	return nil
}

// stopInotify closes the watch and waits for its reader to end. Events
// still buffered are dropped: the rescan that follows finds their files.
func (w *Watcher) stopInotify() {
	if w.in == nil {
		return
	}
	_ = w.in.close()
	for range w.events {
	}
	<-w.inDone
	w.in, w.events, w.inDone = nil, nil, nil
}

func (w *Watcher) item(e *entry) Item {
	captured, fromName := w.cfg.Names.CaptureTime(e.name, e.mtime)
	return Item{
		Name: e.name, Path: filepath.Join(w.cfg.Dir, e.name), Size: e.size, ModTime: e.mtime,
		CapturedAt: captured, TimeFromName: fromName, DetectedAt: e.detectedAt,
		Attempt: e.attempts + 1, gen: e.gen,
	}
}

func (w *Watcher) handleEvent(ev fsEvent) {
	switch {
	case ev.overflow:
		w.log.Warn("inotify queue overflow, rescanning", "dir", w.cfg.Dir)
		w.scan(false)
	case ev.lost:
		w.log.Error("directory watch lost (directory deleted, moved or unmounted?), rescanning", "dir", w.cfg.Dir)
		w.m.Errors.WithLabelValues("inotify").Inc()
		w.stopInotify()
		w.scan(false)
	case ev.name == "" || Ignored(ev.name, w.cfg.Ignore):
	case ev.gone:
		if e, ok := w.entries[ev.name]; ok && e.st != stInflight {
			w.forget(e)
		}
	default:
		w.observe(ev.name, ev.closed)
	}
}

// scan lists the directory: new files are tracked (sorted oldest first so
// that, at start-up, what was there is sent first in capture order) and
// vanished ones forgotten. A successful listing is the service's heartbeat.
func (w *Watcher) scan(initial bool) {
	if !initial {
		w.m.Rescans.Inc()
	}
	des, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.m.Errors.WithLabelValues("scan").Inc()
		w.log.Error("cannot list directory", "dir", w.cfg.Dir, "err", err)
		return
	}
	w.m.Heartbeat.Set(float64(w.cfg.Now().UnixMilli()) / 1e3)
	type found struct {
		name string
		t    time.Time
	}
	var fresh []found
	present := make(map[string]bool, len(des))
	for _, de := range des {
		name := de.Name()
		if Ignored(name, w.cfg.Ignore) || !de.Type().IsRegular() {
			continue
		}
		present[name] = true
		if _, ok := w.entries[name]; ok {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		t, _ := w.cfg.Names.CaptureTime(name, fi.ModTime())
		fresh = append(fresh, found{name, t})
	}
	for name, e := range w.entries {
		if !present[name] && e.st != stInflight {
			w.forget(e)
		}
	}
	sort.Slice(fresh, func(i, j int) bool {
		if !fresh[i].t.Equal(fresh[j].t) {
			return fresh[i].t.Before(fresh[j].t)
		}
		return fresh[i].name < fresh[j].name
	})
	if initial && len(fresh) > 0 {
		w.log.Info("files present at start-up, sending oldest first", "files", len(fresh))
	}
	for _, f := range fresh {
		w.observe(f.name, false)
	}
	// Look again at files being written: a missed close event must not
	// leave one waiting forever.
	for _, e := range w.entries {
		if e.st == stWaiting {
			w.evaluate(e, false)
		}
	}
}

// observe handles a file name seen by an event or a scan.
func (w *Watcher) observe(name string, closed bool) {
	e, ok := w.entries[name]
	if !ok {
		w.seq++
		w.gen++
		e = &entry{name: name, seq: w.seq, gen: w.gen, heapIdx: -1}
		w.entries[name] = e
		w.waiting[e] = struct{}{}
		w.files++
		w.updateBacklog()
	}
	switch e.st {
	case stWaiting:
		w.evaluate(e, closed)
	case stQueued, stBackoff, stInflight:
		// The sender checks size and mtime when it reads the file and
		// again before deleting it, so a rewrite is caught there.
	}
	if !ok {
		w.guardNew(e)
	}
}

// evaluate decides, for a waiting file, whether it is complete, junk, or
// still being written.
func (w *Watcher) evaluate(e *entry, closed bool) {
	path := filepath.Join(w.cfg.Dir, e.name)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		w.forget(e)
		return
	}
	now := w.cfg.Now()
	if fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		first := e.mtime.IsZero()
		w.bytes += fi.Size() - e.size
		e.size, e.mtime, e.closed = fi.Size(), fi.ModTime(), false
		if !first {
			e.changedAt = now
			e.gen++
		}
		w.updateBacklog()
	}
	if closed {
		e.closed = true
	}
	last := e.mtime
	if e.changedAt.After(last) {
		last = e.changedAt
	}
	quiet := now.Sub(last)
	if quiet < 0 {
		quiet = 0 // mtime in the future: treat as just written
	}
	settled := e.closed || quiet >= w.cfg.Settle
	switch err := checkEnds(path, e.size); {
	case err == nil:
		if !settled {
			return
		}
		if lim := w.limit(); lim > 0 && e.size > lim {
			w.quarantine(e, fmt.Errorf("value: %w: %d bytes, limit %d (topic max.message.bytes less headroom)", messages.ErrTooLarge, e.size, lim))
			return
		}
		e.detectedAt = now
		w.setState(e, stQueued)
		w.m.Detected.Inc()
	case errors.Is(err, messages.ErrNotJPEG):
		if settled {
			w.quarantine(e, err)
		}
	case errors.Is(err, messages.ErrEmpty), errors.Is(err, messages.ErrTruncatedJPEG):
		if quiet >= w.cfg.PartialTimeout {
			w.quarantine(e, fmt.Errorf("%w (no growth for %s)", err, quiet.Round(time.Millisecond)))
		}
	case errors.Is(err, fs.ErrNotExist):
		w.forget(e)
	default:
		w.m.Errors.WithLabelValues("read").Inc()
		w.log.Warn("cannot read file, will look again", "file", e.name, "err", err)
	}
}

func (w *Watcher) limit() int64 {
	if w.cfg.MaxPictureBytes == nil {
		return 0
	}
	return w.cfg.MaxPictureBytes()
}

func (w *Watcher) tick() {
	now := w.cfg.Now()
	for e := range w.waiting {
		w.evaluate(e, false)
	}
	for e := range w.backoff {
		if now.Before(e.notBefore) {
			continue
		}
		if e.quarantine != nil {
			w.quarantine(e, e.quarantine)
			continue
		}
		w.setState(e, stQueued)
	}
}

// setState moves an entry between states, keeping the waiting and backoff
// sets and the ready heap in step.
func (w *Watcher) setState(e *entry, st fileState) {
	switch e.st {
	case stWaiting:
		delete(w.waiting, e)
	case stBackoff:
		delete(w.backoff, e)
	case stQueued:
		if e.heapIdx >= 0 {
			heap.Remove(&w.ready, e.heapIdx)
		}
	}
	e.st = st
	switch st {
	case stWaiting:
		w.waiting[e] = struct{}{}
	case stBackoff:
		w.backoff[e] = struct{}{}
	case stQueued:
		heap.Push(&w.ready, e)
	}
}

// forget drops a file that disappeared or is no longer a regular file.
func (w *Watcher) forget(e *entry) { w.remove(e) }

func (w *Watcher) remove(e *entry) {
	if _, ok := w.entries[e.name]; !ok {
		return
	}
	w.setState(e, stInflight) // leaves every set and the heap
	delete(w.entries, e.name)
	w.files--
	w.bytes -= e.size
	w.updateBacklog()
}

// readyHeap orders complete files by discovery sequence: start-up files by
// capture time first, then arrivals in order; a retried file keeps its
// place.
type readyHeap []*entry

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *readyHeap) Push(x any) {
	e := x.(*entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *readyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.heapIdx = -1
	*h = old[:len(old)-1]
	return e
}
