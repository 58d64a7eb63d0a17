package harness

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/loadtest/namenode"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/report"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// ms and sec are times n milliseconds or s seconds after t0.
func ms(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }

func sec(s float64) time.Time { return ms(s * 1000) }

func TestLedgerSeenAndLatencies(t *testing.T) {
	l := NewLedger()
	l.Add(&Pic{Key: "a", Phase: "steady/x", Bytes: 10, Ready: ms(0), Final: StageHDFS})
	l.Add(&Pic{Key: "b", Phase: "steady/x", Bytes: 20, Ready: ms(100), Final: StageHDFS})
	l.Add(&Pic{Key: "c", Phase: "other", Bytes: 30, Ready: ms(0), Final: StageHDFS})
	l.Seen(StageEdge, "a", ms(5), 110, 10, "node1")
	l.Seen(StageEdge, "a", ms(50), 110, 10, "node1") // duplicate: first sighting counts
	l.Seen(StageCloud, "a", ms(15), 0, 0, "cameraData")
	l.Seen(StageHDFS, "a", ms(40), 10, 0, "/p/a.jpg")
	l.Seen(StageEdge, "b", ms(107), 120, 20, "node2")
	l.Seen(StageEdge, "zzz", ms(1), 1, 1, "node1") // never written
	ps := l.Phase("steady/x")
	if len(ps) != 2 || ps[0].EdgeN != 2 || !ps[0].Edge.Equal(ms(5)) || ps[0].RecordBytes != 110 || ps[0].HDFSPath != "/p/a.jpg" {
		t.Fatalf("Phase() = %+v", ps)
	}
	if got := l.Unknown(StageEdge); got != 1 {
		t.Errorf("Unknown(edge) = %d, want 1", got)
	}
	tests := []struct {
		from, to string
		want     []float64
	}{
		{"ready", StageEdge, []float64{5, 7}},
		{StageEdge, StageCloud, []float64{10}},
		{StageCloud, StageHDFS, []float64{25}},
		{"ready", StageHDFS, []float64{40}},
	}
	for _, tt := range tests {
		got := Latencies(ps, tt.from, tt.to)
		if len(got) != len(tt.want) {
			t.Errorf("Latencies(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("Latencies(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		}
	}
	if total, arrived := l.Count("steady/x", StageEdge); total != 2 || arrived != 2 {
		t.Errorf("Count(edge) = %d, %d, want 2, 2", total, arrived)
	}
	if total, arrived := l.Count("", StageHDFS); total != 3 || arrived != 1 {
		t.Errorf("Count(all, hdfs) = %d, %d, want 3, 1", total, arrived)
	}
	first, last, n := Span(ps, StageEdge)
	if n != 2 || !first.Equal(ms(5)) || !last.Equal(ms(107)) {
		t.Errorf("Span(edge) = %v, %v, %d", first, last, n)
	}
	if _, _, n := Span(ps, StageMirror); n != 0 {
		t.Errorf("Span(mirror) n = %d, want 0", n)
	}
}

func newTestRun() *backendRun {
	return &backendRun{h: &Harness{sampler: pipeline.NewSampler(time.Second), cfg: Config{Verify: 0}}, ledger: NewLedger()}
}

func TestRateCountsAfterTheFirstBatch(t *testing.T) {
	br := newTestRun()
	// Five pictures of 1 MB: three share the first batch's append time,
	// two arrive 100 ms and 200 ms later.
	arrivals := []float64{1000, 1000, 1000, 1100, 1200}
	for i, a := range arrivals {
		key := string(rune('a' + i))
		br.ledger.Add(&Pic{Key: key, Phase: "kdrain/x", Bytes: 1e6, Ready: ms(0), Final: StageCloud})
		br.ledger.Seen(StageCloud, key, ms(a), 0, 0, "c")
	}
	r := br.rate("kdrain/x", StageCloud, ms(400), "nobody")
	if r.N != 5 || r.Batched != 3 || math.Abs(r.Seconds-0.2) > 1e-9 {
		t.Fatalf("rate() = %+v, want n 5, batched 3, 0.2 s", r)
	}
	if math.Abs(r.PerSec-10) > 1e-9 || math.Abs(r.MBPerSec-10) > 1e-9 {
		t.Errorf("rate() = %.3f/s %.3f MB/s, want 10/s and 10 MB/s (2 pictures after the first batch in 0.2 s)", r.PerSec, r.MBPerSec)
	}
	if math.Abs(r.StartupSeconds-0.6) > 1e-9 {
		t.Errorf("StartupSeconds = %v, want 0.6", r.StartupSeconds)
	}
	// Everything in one batch (one bundle): process start to the arrival,
	// a lower bound marked as such.
	br2 := newTestRun()
	for _, k := range []string{"a", "b"} {
		br2.ledger.Add(&Pic{Key: k, Phase: "p", Bytes: 1})
		br2.ledger.Seen(StageCloud, k, ms(500), 0, 0, "c")
	}
	if r := br2.rate("p", StageCloud, ms(0), "x"); r.N != 2 || math.Abs(r.PerSec-4) > 1e-9 || r.Batched != 2 || !r.IncludesStartup {
		t.Errorf("rate(one batch) = %+v, want n 2, 4/s including the start", r)
	}
	// ... and none when it arrived before the process started (not its work).
	if r := br2.rate("p", StageCloud, ms(600), "x"); r.PerSec != 0 || r.IncludesStartup {
		t.Errorf("rate(one batch before the start) = %+v, want no rate", r)
	}
}

func TestBundleRateLeavesOutTheAgeRolledTail(t *testing.T) {
	tests := []struct {
		name        string
		give        []float64 // arrival (bundle modification) times, ms, one picture of 1 MB each
		wantPerSec  float64
		wantSeconds float64
		wantTailN   int
		wantTailSec float64
	}{
		// First bundle at 1000 (2 pictures, batched), size-rolled ones at
		// 1100 and 1200 (2 each), the tail at 3200 (1, its age roll).
		{name: "tail left out", give: []float64{1000, 1000, 1100, 1100, 1200, 1200, 3200},
			wantPerSec: 20, wantSeconds: 0.2, wantTailN: 1, wantTailSec: 2},
		// Too few bundles to tell the tail apart: rate's figure.
		{name: "three bundles", give: []float64{1000, 1100, 1100, 3100},
			wantPerSec: 3 / 2.1, wantSeconds: 2.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := newTestRun()
			for i, a := range tt.give {
				key := string(rune('a' + i))
				br.ledger.Add(&Pic{Key: key, Phase: "hdrain/x/avro", Bytes: 1e6, Ready: ms(0)})
				br.ledger.Seen(StageHDFS, key, ms(a), 0, 0, "b")
			}
			r := br.bundleRate("hdrain/x/avro", ms(400), "nobody")
			if r.N != len(tt.give) || math.Abs(r.PerSec-tt.wantPerSec) > 1e-9 || math.Abs(r.MBPerSec-tt.wantPerSec) > 1e-9 ||
				math.Abs(r.Seconds-tt.wantSeconds) > 1e-9 || r.TailN != tt.wantTailN || math.Abs(r.TailSeconds-tt.wantTailSec) > 1e-9 {
				t.Errorf("bundleRate() = n %d, %.3f/s, %.3f MB/s over %.3f s, tail %d after %.3f s; want n %d, %v/s and MB/s over %v s, tail %d after %v s",
					r.N, r.PerSec, r.MBPerSec, r.Seconds, r.TailN, r.TailSeconds, len(tt.give), tt.wantPerSec, tt.wantSeconds, tt.wantTailN, tt.wantTailSec)
			}
		})
	}
}

func TestBurstRate(t *testing.T) {
	br := newTestRun()
	for i, ready := range []float64{0, 10, 20, 30} {
		key := string(rune('a' + i))
		br.ledger.Add(&Pic{Key: key, Phase: "b", Bytes: 500_000, Ready: ms(ready)})
		br.ledger.Seen(StageEdge, key, ms(ready+470), 0, 0, "t")
	}
	r := br.burstRate("b", StageEdge, "x")
	// 4 pictures from the first ready (0 ms) to the last append (500 ms).
	if r.N != 4 || math.Abs(r.PerSec-8) > 1e-9 || math.Abs(r.MBPerSec-4) > 1e-9 {
		t.Errorf("burstRate() = %+v, want 8/s, 4 MB/s", r)
	}
}

func TestCompletenessWithoutReadBack(t *testing.T) {
	br := newTestRun()
	add := func(key, phase, final string, bytes int) {
		br.ledger.Add(&Pic{Key: key, Phase: phase, Bytes: bytes, Final: final})
	}
	add("ok", "p", StageHDFS, 10)
	add("missing", "p", StageHDFS, 10)
	add("short", "p", StageHDFS, 10)
	add("drained", "p", StageCloud, 10)
	add("lost", "p", StageCloud, 10)
	for _, k := range []string{"ok", "missing", "short", "drained"} {
		br.ledger.Seen(StageEdge, k, ms(1), 0, 0, "e")
		br.ledger.Seen(StageCloud, k, ms(2), 0, 0, "c")
	}
	br.ledger.Seen(StageCloud, "ok", ms(3), 0, 0, "c") // duplicate on the cloud
	br.ledger.Seen(StageHDFS, "ok", ms(4), 10, 0, "/ok.jpg")
	br.ledger.Seen(StageHDFS, "short", ms(4), 9, 0, "/short.jpg")
	c := br.completeness(context.Background(), br.ledger.Phase("p"), 0)
	want := report.Completeness{Produced: 3, Edge: 4, Cloud: 4, CloudDuplicates: 1, HDFS: 2, Missing: 1, SizeMismatch: 1,
		CloudFinal: 2, CloudFinalMissing: 1, MissingKeys: []string{"missing", "lost"}}
	if c.Produced != want.Produced || c.Edge != want.Edge || c.Cloud != want.Cloud || c.CloudDuplicates != want.CloudDuplicates ||
		c.HDFS != want.HDFS || c.Missing != want.Missing || c.SizeMismatch != want.SizeMismatch ||
		c.CloudFinal != want.CloudFinal || c.CloudFinalMissing != want.CloudFinalMissing || len(c.MissingKeys) != 2 {
		t.Errorf("completeness() = %+v, want %+v", c, want)
	}
	if c.OK() {
		t.Error("OK() = true for an incomplete phase")
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Sizes: []string{"640x480"}, Cameras: 5, Rate: 1, Steady: 10 * time.Second, Form: "binary", Backends: []string{"confluent"},
			Stores: []string{"files", "avro"}}
	}
	svctest.Validate(t, good, []svctest.ConfigCase[Config]{
		{Name: "good", Change: func(*Config) {}},
		{Name: "bad size", Change: func(c *Config) { c.Sizes = []string{"huge"} }, WantErr: `size "huge"`},
		{Name: "no cameras", Change: func(c *Config) { c.Cameras = 0 }, WantErr: "cameras 0"},
		{Name: "zero rate", Change: func(c *Config) { c.Rate = 0 }, WantErr: "rate 0"},
		{Name: "short phase", Change: func(c *Config) { c.Steady = time.Millisecond }, WantErr: "steady duration 1ms"},
		{Name: "bad form", Change: func(c *Config) { c.Form = "xml" }, WantErr: `message form "xml"`},
		{Name: "bad backend", Change: func(c *Config) { c.Backends = []string{"sarama"} }, WantErr: `backend "sarama"`},
		{Name: "negative drain", Change: func(c *Config) { c.DrainMB = -1 }, WantErr: "drain megabytes -1"},
		{Name: "too many cameras", Change: func(c *Config) { c.Cameras = MaxCameras + 1 }, WantErr: "cameras 201"},
		{Name: "no store", Change: func(c *Config) { c.Stores = nil }, WantErr: "no picture stores"},
		{Name: "bad store", Change: func(c *Config) { c.Stores = []string{"parquet"} }, WantErr: `picture store "parquet"`},
		{Name: "store twice", Change: func(c *Config) { c.Stores = []string{"avro", "avro"} }, WantErr: "given twice"},
		{Name: "negative bundle age", Change: func(c *Config) { c.BundleMaxAge = -time.Second }, WantErr: "bundle max age -1s"},
		{Name: "negative bundle size", Change: func(c *Config) { c.BundleMaxMB = -1 }, WantErr: "bundle max MiB -1"},
		{Name: "baselines without drains", Change: func(c *Config) { c.Baselines = true }, WantErr: "baselines need drains"},
		{Name: "service env", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"edge-forwarder": {"GOMEMLIMIT=24MiB"}} }},
		{Name: "env of an unknown service", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"edge-forwarde": {"A=1"}} },
			WantErr: `service environment for "edge-forwarde"`},
		{Name: "env of one backend", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"confluent/edge-forwarder": {"GOMEMLIMIT=24MiB"}} }},
		{Name: "env of a backend not run", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"franz/edge-forwarder": {"A=1"}} },
			WantErr: `backend "franz" is not one of confluent`},
		{Name: "env of an unknown service on a backend", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"confluent/forwarder": {"A=1"}} },
			WantErr: `service environment for "confluent/forwarder": want one of`},
		{Name: "env entry not KEY=V", Change: func(c *Config) { c.ServiceEnv = map[string][]string{"edge-forwarder": {"A"}} },
			WantErr: `"A" is not KEY=V`},
	})
}

func TestLedgerSeenInBundle(t *testing.T) {
	l := NewLedger()
	l.Add(&Pic{Key: "a", Phase: "hdrain/x/avro", Bytes: 10, Ready: ms(0), Final: StageHDFS})
	bp := bundlestore.Picture{Key: "a", Bundle: "/b/t+0+0+9.avro", Entry: bundle.Entry{Key: "a", Start: 100, Length: 50}}
	l.SeenInBundle(bp, ms(2000))
	l.SeenInBundle(bundlestore.Picture{Key: "a", Bundle: "/b/t+0+10+19.avro"}, ms(4000)) // a second bundle with the key
	l.SeenInBundle(bundlestore.Picture{Key: "zzz", Bundle: "/b/t+0+0+9.avro"}, ms(1))
	ps := l.Phase("hdrain/x/avro")
	if len(ps) != 1 {
		t.Fatalf("Phase() = %+v", ps)
	}
	p := ps[0]
	if p.HDFSN != 2 || !p.HDFS.Equal(ms(2000)) || p.HDFSPath != "/b/t+0+0+9.avro" || p.HDFSStore != StoreAvro ||
		p.HDFSSize != -1 || p.HDFSBundled == nil || p.HDFSBundled.Entry != bp.Entry {
		t.Errorf("SeenInBundle: pic = %+v", p)
	}
	if got := l.Unknown(StageHDFS); got != 1 {
		t.Errorf("Unknown(hdfs) = %d, want 1", got)
	}
}

func TestObjectsPerPicture(t *testing.T) {
	objs := func(files, blocks int64) namenode.Objects { return namenode.Objects{Files: files, Blocks: blocks} }
	tests := []struct {
		name          string
		before, after objectCounts
		pictures      int
		err           error
		wantJMX       float64
		wantStore     float64
		wantErr       bool
	}{
		{"files", objectCounts{objs(100, 50), objs(1, 0)}, objectCounts{objs(310, 250), objs(201, 200)}, 100, nil, 4.1, 4, false},
		{"bundles, others wrote meanwhile", objectCounts{objs(100, 50), objs(0, 0)}, objectCounts{objs(130, 60), objs(12, 6)}, 600, nil, 0.0667, 0.03, false},
		{"jmx failed", objectCounts{}, objectCounts{}, 100, errors.New("connection refused"), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := objectsPerPicture(tt.before, tt.after, tt.pictures, tt.err)
			if tt.wantErr {
				if got.Err == "" || got.Pictures != tt.pictures {
					t.Errorf("objectsPerPicture() = %+v, want an error", got)
				}
				return
			}
			if got.Err != "" || math.Abs(got.PerPicture-tt.wantJMX) > 1e-3 || math.Abs(got.StorePerPicture-tt.wantStore) > 1e-3 ||
				got.Store != tt.after.store.Sub(tt.before.store) || got.Before != tt.before.jmx || got.After != tt.after.jmx {
				t.Errorf("objectsPerPicture() = %+v, want %.4f (JMX), %.4f (store)", got, tt.wantJMX, tt.wantStore)
			}
		})
	}
}
