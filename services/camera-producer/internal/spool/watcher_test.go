package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

type harness struct {
	t      *testing.T
	w      *Watcher
	m      *Metrics
	cfg    Config
	cancel context.CancelFunc
	done   chan error
}

func testConfig(t *testing.T) Config {
	names, err := ParseNameTimes(DefaultNamePatterns, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Dir: t.TempDir(), Ignore: DefaultIgnore, Names: names,
		Settle: 300 * time.Millisecond, PartialTimeout: 1500 * time.Millisecond, Rescan: 500 * time.Millisecond,
		Tick: 20 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	}
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	m := NewMetrics(nil)
	w, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, w: w, m: m, cfg: w.cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run() = %v", err)
	}
	h.cancel = nil
}

// next waits for the next item, failing the test after limit.
func (h *harness) next(limit time.Duration) Item {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	it, err := h.w.Next(ctx)
	if err != nil {
		h.t.Fatalf("Next() after %v: %v", limit, err)
	}
	return it
}

// none checks that no item is handed out during d.
func (h *harness) none(d time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if it, err := h.w.Next(ctx); err == nil {
		h.t.Fatalf("Next() = %s (%d bytes), want nothing", it.Name, it.Size)
	}
}

func (h *harness) write(name string, data []byte) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.cfg.Dir, name), data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// wantQuarantined waits until a file was quarantined for reason, then
// checks that name and its reason file are in .quarantine and that the
// reason was counted once.
func (h *harness) wantQuarantined(name, reason string) {
	h.t.Helper()
	svctest.Eventually(h.t, 5*time.Second, name+" quarantined and counted", func() bool {
		return testutil.ToFloat64(h.m.Quarantined.WithLabelValues(reason)) >= 1
	})
	q := filepath.Join(h.cfg.Dir, ".quarantine")
	if !exists(filepath.Join(q, name)) || !exists(filepath.Join(q, name+".reason")) {
		h.t.Errorf("%s or its reason is not in .quarantine", name)
	}
	if got := testutil.ToFloat64(h.m.Quarantined.WithLabelValues(reason)); got != 1 {
		h.t.Errorf("quarantined{%s} = %v, want 1", reason, got)
	}
}

func picture(seed uint64) []byte { return jpegsynth.Picture(jpegsynth.Size320x188, seed) }

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestStartupFilesOldestFirst(t *testing.T) {
	cfg := testConfig(t)
	old := time.Now().Add(-time.Hour)
	files := map[string]time.Time{
		"20160512-134503.jpg":              old,                                         // name time 13:45:03
		"01-20160512134501-00.jpg":         old,                                         // name time 13:45:01
		"C1-20160512134502-500-000001.jpg": old,                                         // name time 13:45:02.5
		"noname-a.jpg":                     time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), // mtime, oldest
		"noname-b.jpg":                     time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), // mtime, newest
	}
	for name, mt := range files {
		p := filepath.Join(cfg.Dir, name)
		if err := os.WriteFile(p, picture(uint64(len(name))), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, cfg)
	var got []string
	for range files {
		it := h.next(5 * time.Second)
		got = append(got, it.Name)
		h.w.Done(it, Result{Outcome: Sent, AckedAt: time.Now()})
	}
	want := []string{"noname-a.jpg", "01-20160512134501-00.jpg", "C1-20160512134502-500-000001.jpg", "20160512-134503.jpg", "noname-b.jpg"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order = %v, want %v", got, want)
	}
	svctest.Eventually(t, 5*time.Second, "sent files deleted", func() bool {
		des, _ := os.ReadDir(cfg.Dir)
		return len(des) == 1 // .quarantine
	})
	if got := testutil.ToFloat64(h.m.Sent); got != 5 {
		t.Errorf("sent = %v, want 5", got)
	}
}

func TestCompleteFilesAndJunk(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	pic := picture(1)
	// Renamed into place: complete at once.
	tmp := filepath.Join(cfg.Dir, ".a.jpg.part")
	if err := os.WriteFile(tmp, pic, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(cfg.Dir, "a.jpg")); err != nil {
		t.Fatal(err)
	}
	it := h.next(5 * time.Second)
	if it.Name != "a.jpg" || it.Size != int64(len(pic)) || it.Attempt != 1 {
		t.Errorf("Next() = %+v, want a.jpg of %d bytes, attempt 1", it, len(pic))
	}
	h.w.Done(it, Result{Outcome: Sent, AckedAt: time.Now()})

	// Junk and ignored names.
	h.write("empty.jpg", nil)
	h.write("notes.txt", []byte("not a picture"))
	h.write("cut.jpg", pic[:len(pic)/2])
	h.write(".hidden.jpg", pic)
	h.write("b.jpg.part", pic)
	h.write("c.jpg.tmp", pic)
	h.write("d.jpg~", pic)
	h.none(2 * cfg.PartialTimeout)
	q := cfg.Dir + "/.quarantine"
	wantReasons := map[string]string{"empty.jpg": "empty", "notes.txt": "not-jpeg", "cut.jpg": "truncated-jpeg"}
	for name, reason := range wantReasons {
		b, err := os.ReadFile(filepath.Join(q, name+".reason"))
		if err != nil {
			t.Errorf("%s: no reason file: %v", name, err)
			continue
		}
		if !strings.Contains(string(b), "reason: "+reason+"\n") {
			t.Errorf("%s.reason = %q, want reason %s", name, b, reason)
		}
		if !exists(filepath.Join(q, name)) || exists(filepath.Join(cfg.Dir, name)) {
			t.Errorf("%s not moved to quarantine", name)
		}
		if got := testutil.ToFloat64(h.m.Quarantined.WithLabelValues(reason)); got != 1 {
			t.Errorf("quarantined{reason=%s} = %v, want 1", reason, got)
		}
	}
	for _, name := range []string{".hidden.jpg", "b.jpg.part", "c.jpg.tmp", "d.jpg~"} {
		if !exists(filepath.Join(cfg.Dir, name)) {
			t.Errorf("ignored file %s was touched", name)
		}
	}
	if exists(filepath.Join(cfg.Dir, "a.jpg")) {
		t.Errorf("a.jpg not deleted after its ack")
	}
}

// A file written slowly, with pauses longer than the settle time, must not
// be handed out or quarantined before it is complete; one that stops
// growing without its EOI marker is quarantined after the partial timeout.
func TestSlowWriter(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	pic := jpegsynth.Picture(jpegsynth.Size640x480, 5)
	f, err := os.Create(filepath.Join(cfg.Dir, "slow.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	chunks := 5
	step := len(pic) / chunks
	for i := 0; i < chunks; i++ {
		end := (i + 1) * step
		if i == chunks-1 {
			end = len(pic)
		}
		if _, err := f.Write(pic[i*step : end]); err != nil {
			t.Fatal(err)
		}
		if i < chunks-1 {
			h.none(2 * cfg.Settle) // pause longer than the settle time
		}
	}
	// Complete now (EOI written); the writer still has the file open, so
	// it is picked up by the settle check, not by a close event.
	it := h.next(5 * time.Second)
	if it.Name != "slow.jpg" || it.Size != int64(len(pic)) {
		t.Errorf("Next() = %s of %d bytes, want slow.jpg of %d", it.Name, it.Size, len(pic))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.w.Done(it, Result{Outcome: Sent, AckedAt: time.Now()})

	// A writer that stalls half way.
	g, err := os.Create(filepath.Join(cfg.Dir, "stalled.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Write(pic[:len(pic)/2]); err != nil {
		t.Fatal(err)
	}
	h.none(cfg.PartialTimeout / 2)
	if exists(filepath.Join(cfg.Dir, ".quarantine", "stalled.jpg")) {
		t.Fatalf("stalled.jpg quarantined before the partial timeout")
	}
	// The reason is written before the file moves, and the metric counts
	// the quarantine once the file moved: wantQuarantined waits for the
	// metric.
	h.wantQuarantined("stalled.jpg", "truncated-jpeg")
}

func TestResults(t *testing.T) {
	cfg := testConfig(t)
	cfg.ArchiveDir = filepath.Join(t.TempDir(), "archive")
	h := start(t, cfg)
	pic := picture(2)
	h.write("r.jpg", pic)

	it := h.next(5 * time.Second)
	h.w.Done(it, Result{Outcome: Retry, Err: errors.New("brokers down")})
	it = h.next(5 * time.Second)
	if it.Name != "r.jpg" || it.Attempt != 2 {
		t.Fatalf("after Retry, Next() = %s attempt %d, want r.jpg attempt 2", it.Name, it.Attempt)
	}
	if got := testutil.ToFloat64(h.m.Retries.WithLabelValues("delivery")); got != 1 {
		t.Errorf("retries = %v, want 1", got)
	}
	h.w.Done(it, Result{Outcome: Released})
	it = h.next(5 * time.Second)
	// Rewritten while in flight: not deleted after the ack, sent again.
	newer := picture(3)
	h.write("r.jpg", newer)
	h.w.Done(it, Result{Outcome: Sent, AckedAt: time.Now()})
	it = h.next(5 * time.Second)
	if it.Size != int64(len(newer)) {
		t.Errorf("after a rewrite, Next() size = %d, want %d", it.Size, len(newer))
	}
	h.w.Done(it, Result{Outcome: Sent, AckedAt: time.Now()})
	svctest.Eventually(t, 5*time.Second, "r.jpg archived", func() bool {
		return exists(filepath.Join(cfg.ArchiveDir, "r.jpg")) && !exists(filepath.Join(cfg.Dir, "r.jpg"))
	})
	b, _ := os.ReadFile(filepath.Join(cfg.ArchiveDir, "r.jpg"))
	if !bytes.Equal(b, newer) {
		t.Errorf("archived content differs from the last version")
	}

	h.write("bad.jpg", pic)
	it = h.next(5 * time.Second)
	h.w.Done(it, Result{Outcome: Reject, Err: messages.CheckJPEG(nil, 0)})
	h.wantQuarantined("bad.jpg", "empty")
	svctest.Eventually(t, 5*time.Second, "rejected file out of the backlog", func() bool {
		return testutil.ToFloat64(h.m.BacklogFiles) == 0
	})
}

func TestTooLarge(t *testing.T) {
	cfg := testConfig(t)
	pic := picture(4)
	cfg.MaxPictureBytes = func() int64 { return int64(len(pic) - 1) }
	h := start(t, cfg)
	h.write("big.jpg", pic)
	h.wantQuarantined("big.jpg", "too-large")
}

func TestDiskGuard(t *testing.T) {
	tests := []struct {
		policy    GuardPolicy
		wantLeft  []string
		wantDrops float64
	}{
		{GuardWarn, []string{"1.jpg", "2.jpg", "3.jpg", "4.jpg"}, 0},
		{GuardDropOldest, []string{"3.jpg", "4.jpg"}, 2},
		{GuardDropNewest, []string{"1.jpg", "2.jpg"}, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxFiles = 2
			cfg.Guard = tt.policy
			h := start(t, cfg)
			for i := 1; i <= 4; i++ {
				h.write(string(rune('0'+i))+".jpg", picture(uint64(i)))
				time.Sleep(20 * time.Millisecond) // distinct arrival order
			}
			svctest.Eventually(t, 5*time.Second, "guard applied", func() bool {
				return testutil.ToFloat64(h.m.Dropped.WithLabelValues("disk-guard")) == tt.wantDrops &&
					testutil.ToFloat64(h.m.BacklogFiles) == float64(len(tt.wantLeft))
			})
			h.stop()
			des, _ := os.ReadDir(cfg.Dir)
			var left []string
			for _, de := range des {
				if de.Type().IsRegular() {
					left = append(left, de.Name())
				}
			}
			sort.Strings(left)
			if strings.Join(left, ",") != strings.Join(tt.wantLeft, ",") {
				t.Errorf("files left = %v, want %v", left, tt.wantLeft)
			}
			if got := testutil.ToFloat64(h.m.GuardTripped); (tt.policy == GuardWarn) != (got == 1) {
				t.Errorf("guard tripped gauge = %v", got)
			}
		})
	}
}

// Without inotify (network file systems deliver no events for remote
// writes) the periodic rescan and the settle check still find files.
func TestRescanOnly(t *testing.T) {
	cfg := testConfig(t)
	cfg.DisableInotify = true
	h := start(t, cfg)
	// Written after the first periodic rescan, so that only a rescan can
	// find it (not the start-up scan, which a write racing it could meet).
	svctest.Eventually(t, 5*time.Second, "a first rescan", func() bool { return testutil.ToFloat64(h.m.Rescans) >= 1 })
	pic := picture(9)
	h.write("late.jpg", pic)
	it := h.next(5 * time.Second)
	if it.Name != "late.jpg" || it.Size != int64(len(pic)) {
		t.Errorf("Next() = %s of %d bytes", it.Name, it.Size)
	}
}

// A reason file that cannot be written (the spool's disk is full) leaves
// the junk file in the spool, counted as an error, and the quarantine is
// tried again until it succeeds: a quarantined file always has its reason
// (the chaos suite's spool-disk-full found quarantined files without one).
func TestQuarantineRetriedWhenReasonCannotBeWritten(t *testing.T) {
	var full atomic.Bool
	full.Store(true)
	orig := writeFile
	writeFile = func(name string, b []byte, perm os.FileMode) error {
		if full.Load() {
			return fmt.Errorf("write %s: %w", name, syscall.ENOSPC)
		}
		return orig(name, b, perm)
	}
	t.Cleanup(func() { writeFile = orig })
	cfg := testConfig(t)
	h := start(t, cfg)
	h.write("notes.txt", []byte("not a picture"))
	q := filepath.Join(cfg.Dir, ".quarantine")
	svctest.Eventually(t, 5*time.Second, "a quarantine error counted", func() bool {
		return testutil.ToFloat64(h.m.Errors.WithLabelValues("quarantine")) >= 1
	})
	if exists(filepath.Join(q, "notes.txt")) && !exists(filepath.Join(q, "notes.txt.reason")) {
		t.Fatalf("notes.txt quarantined without its reason while the disk is full")
	}
	full.Store(false)
	svctest.Eventually(t, 3*cfg.RetryMax+5*time.Second, "notes.txt quarantined with its reason", func() bool {
		return exists(filepath.Join(q, "notes.txt.reason"))
	})
	b, err := os.ReadFile(filepath.Join(q, "notes.txt.reason"))
	if err != nil || !strings.Contains(string(b), "reason: not-jpeg\n") {
		t.Errorf("notes.txt.reason = %q, %v; want reason not-jpeg", b, err)
	}
	if !exists(filepath.Join(q, "notes.txt")) || exists(filepath.Join(cfg.Dir, "notes.txt")) {
		t.Errorf("notes.txt not moved to quarantine")
	}
}

// The heartbeat is the time of the last directory listing: set at start,
// renewed by every rescan, and standing still while the directory cannot
// be listed (what the SensornodeCameraHeartbeatStopped alert watches).
func TestHeartbeat(t *testing.T) {
	cfg := testConfig(t)
	cfg.DisableInotify = true
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC).UnixMilli())
	cfg.Now = func() time.Time { return time.UnixMilli(now.Load()) }
	h := start(t, cfg)
	beat := func() float64 { return testutil.ToFloat64(h.m.Heartbeat) }
	seconds := func() float64 { return float64(now.Load()) / 1e3 }

	svctest.Eventually(t, 5*time.Second, "the start-up listing's heartbeat", func() bool { return beat() == seconds() })
	now.Add(time.Minute.Milliseconds())
	svctest.Eventually(t, 5*time.Second, "a rescan's heartbeat", func() bool { return beat() == seconds() })

	last := beat()
	if err := os.RemoveAll(cfg.Dir); err != nil {
		t.Fatal(err)
	}
	now.Add(time.Minute.Milliseconds())
	rescans := testutil.ToFloat64(h.m.Rescans)
	// Two more rescans: at least one ran wholly after the directory went.
	svctest.Eventually(t, 5*time.Second, "two rescans", func() bool { return testutil.ToFloat64(h.m.Rescans) >= rescans+2 })
	if got := beat(); got != last {
		t.Errorf("heartbeat %v after the directory went, want it to stay %v", got, last)
	}
	if testutil.ToFloat64(h.m.Errors.WithLabelValues("scan")) == 0 {
		t.Error("no scan error counted for the missing directory")
	}
}
