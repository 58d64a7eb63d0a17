package ingest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// On the first picture after an assignment the new owner removes every
// other takeover directory of the partition (a former owner's, with its
// open bundle) before recovery lists the committed bundles, makes its own,
// and writes its bundle there.
func TestBundleTakeoverFencesFormerOwnersBeforeRecovery(t *testing.T) {
	cfg := bundleConfig()
	cl := newCluster()
	appendPictures(t, cl, 1, 2)
	fs := newMemFS()
	const former, idle = "/t/_tmp/cameraData+0/0123456789abcdef", "/t/_tmp/cameraData+0/fedcba9876543210"
	fs.files[former+"/7-0a0b0c0d.tmp"] = []byte("a zombie's open bundle")
	fs.dirs[idle] = true
	fs.files["/t/_tmp/cameraData+0+9-01020304.tmp"] = []byte("a flat temporary file of the files store")
	in := manualIngester(t, cfg, fs, cl, io.Discard)
	for _, m := range cl.Records(camTP.Topic) {
		if err := in.process(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	bp := in.bundles[camTP]
	if bp == nil || bp.open == nil {
		t.Fatal("no open bundle")
	}
	own := in.part(camTP).tk.dir
	if !strings.HasPrefix(own, "/t/_tmp/cameraData+0/") || own == former || own == idle {
		t.Fatalf("takeover directory %q, want a new one under /t/_tmp/cameraData+0/", own)
	}
	if !strings.HasPrefix(bp.open.tmp, own+"/") {
		t.Errorf("open bundle written at %s, want in %s", bp.open.tmp, own)
	}
	// Abandoned, so that its writer is done with fs (ops read below).
	in.closeBundles(nil, true, abandonShutdown)
	at := func(op string) int {
		i := slices.Index(fs.ops, op)
		if i < 0 {
			t.Fatalf("%q not done; ops: %q", op, fs.ops)
		}
		return i
	}
	recovery := slices.IndexFunc(fs.ops, func(op string) bool { return strings.HasPrefix(op, "readdir /t/bundles") })
	if recovery < 0 {
		t.Fatalf("recovery did not list the bundles; ops: %q", fs.ops)
	}
	for _, op := range []string{"removeall " + former, "removeall " + idle, "mkdir " + own} {
		if at(op) > recovery {
			t.Errorf("%q after recovery listed the bundles (ops %q)", op, fs.ops)
		}
	}
	if at("removeall "+former) > at("mkdir "+own) || at("removeall "+idle) > at("mkdir "+own) {
		t.Errorf("own directory made before the former ones were removed (ops %q)", fs.ops)
	}
	for _, dir := range []string{former, idle} {
		if _, there, _ := fs.Stat(dir); there {
			t.Errorf("%s still there", dir)
		}
	}
	if got := testutil.ToFloat64(in.m.tmpRemoved); got != 1 {
		t.Errorf("tmp_files_removed_total = %v, want 1 (the former owner's open bundle)", got)
	}
	// Flat temporary files are the files store's: cleanTmp removes them,
	// the takeover leaves them alone.
	if _, there, _ := fs.Stat("/t/_tmp/cameraData+0+9-01020304.tmp"); !there {
		t.Error("the takeover removed a flat temporary file")
	}
}

// A zombie (member A) is paused after its roll passed the time fence;
// meanwhile member B is given the partition, takes it over and commits a
// bundle of the same records. When A goes on, whatever step it was at, its
// roll fails as fenced: nothing of A's bundle is committed (in HDFS or to
// Kafka), B's bundle holds every picture once, and A waits for the
// rebalance instead of writing again.
func TestBundleZombieRollFencedByTakeover(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pause string // where A is paused: "close", "index" (before its rename) or "bundle" (before its rename)
	}{
		{name: "closing its open file", pause: "close"},
		{name: "before the index rename", pause: "index"},
		{name: "between the index and the bundle rename", pause: "bundle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bundleConfig()
			cl := newCluster()
			want := appendPictures(t, cl, 1, 5)
			recs := cl.Records(camTP.Topic)
			fs := newMemFS()
			var logs svctest.SyncBuffer
			a := manualIngester(t, cfg, fs, cl, &logs)
			for _, m := range recs[:3] {
				if err := a.process(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			aDir := a.part(camTP).tk.dir

			paused := false
			var b *Ingester
			takeOver := func() {
				paused = true
				b = manualIngester(t, cfg, fs, cl, io.Discard)
				for _, m := range recs {
					if err := b.process(context.Background(), m); err != nil {
						t.Errorf("B: %v", err)
					}
				}
				if err := b.roll(camTP, false); err != nil {
					t.Errorf("B's roll: %v", err)
				}
			}
			fs.beforeClose = func(name string) {
				if tt.pause == "close" && !paused && strings.HasPrefix(name, aDir+"/") {
					takeOver()
				}
			}
			fs.beforeRename = func(tmp, final string) {
				if paused || !strings.HasPrefix(tmp, aDir+"/") {
					return
				}
				if (tt.pause == "index" && strings.HasSuffix(final, ".idx")) || (tt.pause == "bundle" && strings.HasSuffix(final, ".avro")) {
					takeOver()
				}
			}
			err := a.roll(camTP, false)
			if !paused {
				t.Fatal("A was never paused")
			}
			if err == nil {
				t.Fatal("A's roll succeeded after B took the partition over")
			}
			if got := testutil.ToFloat64(a.m.bundlesAbandoned.WithLabelValues(abandonFenced)); got != 1 {
				t.Errorf("A: bundles abandoned as fenced = %v, want 1 (err %v)", got, err)
			}
			if got := testutil.ToFloat64(a.m.bundlesCommitted); got != 0 {
				t.Errorf("A: bundles committed = %v, want 0", got)
			}
			a.commit(context.Background(), nil)
			if c := cl.Committed(cfg.Kafka.GroupID)[camTP]; c != 0 {
				t.Errorf("A committed offset %d", c)
			}
			if !strings.Contains(logs.String(), "partition=cameraData[0]") || !strings.Contains(logs.String(), "first=0 last=2") ||
				!strings.Contains(logs.String(), "reason=fenced") {
				t.Errorf("no WARN naming the partition and A's offsets:\n%s", logs.String())
			}
			// B's bundle is the only one: every picture in it once.
			if spans := checkPictures(t, fs, want); len(spans) != 1 || spans[0].First != 0 || spans[0].Last != 4 {
				t.Errorf("committed bundles %v, want B's 0-4 only", spans)
			}
			if files := fs.under(aDir); len(files) != 0 {
				t.Errorf("A's temporary files left: %v", files)
			}
			// A, still believing it owns the partition, writes nothing
			// until the rebalance comes (or a session timeout passes).
			if err := a.process(context.Background(), recs[3]); !errors.Is(err, errTakenOver) {
				t.Errorf("A's next picture: %v, want errTakenOver", err)
			}
			if _, there, _ := fs.Stat(b.part(camTP).tk.dir); !there {
				t.Error("A took the partition over again at once: B's directory removed")
			}
			// Still assigned a session timeout later (no rebalance came):
			// A takes it over again, recovers B's bundle and skips its
			// offsets.
			a.now = func() time.Time { return time.Now().Add(cfg.Kafka.SessionTimeout) }
			if err := a.process(context.Background(), recs[3]); err != nil {
				t.Fatalf("A's picture a session timeout later: %v", err)
			}
			if _, there, _ := fs.Stat(b.part(camTP).tk.dir); there {
				t.Error("A took the partition over again without removing B's directory")
			}
			if bp := a.bundles[camTP]; bp.high != 4 || bp.open != nil {
				t.Errorf("A after taking over again: committed up to %d, open bundle %v; want 4 and none", bp.high, bp.open != nil)
			}
		})
	}
}

// A zombie's readings flush is fenced by the partition's takeover, as a
// bundle's roll is. Member A buffered readings 0..2 and is paused (before
// its write, or between its file's close and its rename) while member B
// takes the partition over and writes readings 0..4; B cannot list the
// temporary directory itself (so the removal of leftover temporary files
// on assignment, retried later, does not help). When A goes on, its
// flush writes nothing and commits nothing: its batch is given up and the
// partition sought back to its first reading. A's next reading waits for
// the rebalance; a session timeout later (no rebalance came) A takes the
// partition over again and finds B's file: every reading is stored once.
func TestReadingsZombieFlushFencedByTakeover(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pause string // where A is paused: "write" (before it) or "rename" (after its close)
	}{
		{name: "before its write", pause: "write"},
		{name: "between its close and its rename", pause: "rename"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := newCluster()
			want := map[string]int{}
			for i := range 5 {
				ts := time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC)
				appendMsg(t, cl, tempTP, mustReading(t, "n1", ts, float64(i)))
				want[identity("n1", ts, float64(i), "synthetic")] = 1
			}
			recs := slices.DeleteFunc(cl.Records(tempTP.Topic), func(m *bus.Message) bool { return m.Partition != tempTP.Partition })
			cfg := testConfig()
			cfg.TemperatureRotateInterval = time.Hour
			fs := newMemFS()
			var logs svctest.SyncBuffer
			a := manualIngester(t, cfg, fs, cl, &logs, tempTP)
			for _, m := range recs[:3] {
				if err := a.process(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			aDir := a.part(tempTP).tk.dir
			b := manualIngester(t, cfg, fs, cl, io.Discard, tempTP)
			paused := false
			takeOver := func() {
				paused = true
				fs.setFail(func(op, name string) bool { return op == "readdir" && name == "/t/_tmp" })
				defer fs.setFail(nil)
				b.applyAssignment()
				for _, m := range recs {
					if err := b.process(context.Background(), m); err != nil {
						t.Errorf("B: %v", err)
					}
				}
				if err := b.flush(tempTP, false); err != nil {
					t.Errorf("B's flush: %v", err)
				}
			}
			if tt.pause == "write" {
				takeOver()
			}
			fs.beforeRename = func(tmp, _ string) {
				if tt.pause == "rename" && !paused && aDir != "" && strings.HasPrefix(tmp, aDir+"/") {
					takeOver()
				}
			}
			err := a.flush(tempTP, true)
			if !paused {
				t.Fatal("A was never paused")
			}
			if !errors.Is(err, errTakenOver) {
				t.Errorf("A's flush after B took the partition over: %v, want errTakenOver", err)
			}
			if got := storedReadings(t, fs, FormatJSONL); len(got) != len(want) {
				t.Errorf("%d readings stored, want %d", len(got), len(want))
			} else {
				checkReadings(t, got, want)
			}
			if a.batches[tempTP] != nil || a.part(tempTP).next != 0 || a.part(tempTP).rewind != 0 {
				t.Errorf("A after the fenced flush: batch %v, next %d, rewind %d; want none, 0, 0 (sought back to its first reading)",
					a.batches[tempTP] != nil, a.part(tempTP).next, a.part(tempTP).rewind)
			}
			a.commit(context.Background(), nil)
			if c := cl.Committed(cfg.Kafka.GroupID)[tempTP]; c != 0 {
				t.Errorf("A committed offset %d", c)
			}
			if got := testutil.ToFloat64(a.m.fenced); got < 1 {
				t.Errorf("A: fenced writes = %v, want >= 1", got)
			}
			if !strings.Contains(logs.String(), "readings flush fenced") || !strings.Contains(logs.String(), "partition=temperatureData[2]") {
				t.Errorf("no WARN naming the fenced flush and its partition:\n%s", logs.String())
			}
			if files := fs.under(aDir); len(files) != 0 {
				t.Errorf("A's temporary files left: %v", files)
			}
			// A, still believing it owns the partition, writes nothing
			// until the rebalance comes (or a session timeout passes).
			if err := a.process(context.Background(), recs[0]); !errors.Is(err, errTakenOver) {
				t.Errorf("A's next reading: %v, want errTakenOver", err)
			}
			bDir := b.part(tempTP).tk.dir
			if _, there, _ := fs.Stat(bDir); !there {
				t.Error("A took the partition over again at once: B's directory removed")
			}
			// Still assigned a session timeout later: A takes it over again,
			// reads B's file and stores nothing twice.
			a.now = func() time.Time { return time.Now().Add(cfg.Kafka.SessionTimeout) }
			for _, m := range recs {
				if err := a.process(context.Background(), m); err != nil {
					t.Fatalf("A's reading a session timeout later: %v", err)
				}
			}
			if err := a.flush(tempTP, true); err != nil {
				t.Fatalf("A's flush a session timeout later: %v", err)
			}
			if _, there, _ := fs.Stat(bDir); there {
				t.Error("A took the partition over again without removing B's directory")
			}
			checkReadings(t, storedReadings(t, fs, FormatJSONL), want)
		})
	}
}
