//go:build integration

package producer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// 200 valid pictures of mixed sizes (100 present at start-up, 99 arriving
// while the service runs, one written slowly with pauses longer than the
// settle time) plus junk (an empty file, a truncated JPEG, a .txt, a
// writer that stalls half way): exactly the 200 valid pictures arrive,
// byte-identical; no file disappears before its acknowledgement; the
// start-up files are sent first, oldest first; every junk file is in
// quarantine with its reason.
func TestIntegrationDirectoryMixedPicturesAndJunk(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "node")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 1, 3)
	dir := t.TempDir()

	valid := map[[32]byte]string{}
	captured := map[string]int{} // startup file -> capture order
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	name := func(i int) string {
		at := base.Add(time.Duration(i) * time.Second)
		switch i % 3 {
		case 0:
			return at.Format("20060102-150405") + ".jpg" // the original producer's names
		case 1:
			return fmt.Sprintf("%02d-%s-%02d.jpg", i, at.Format("20060102150405"), i%7) // motion's
		}
		return fmt.Sprintf("pic-%03d.jpg", 1000-i) // no time in the name: mtime
	}
	// Start-up set, in shuffled creation order.
	for _, i := range shuffled(100) {
		b := uniqueJPEG(mixedSizes[i%3], i)
		n := name(i)
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		valid[sum(b)] = n
		captured[n] = i
	}

	var ackMu sync.Mutex
	acked := map[string]bool{}
	var violations []string
	opt := Options{OnAck: func(it spool.Item, _ spool.Result) {
		ackMu.Lock()
		defer ackMu.Unlock()
		if _, err := os.Stat(it.Path); err != nil {
			violations = append(violations, it.Name+": gone before its ack was handled")
		}
		acked[it.Name] = true
	}}
	env := map[string]string{
		"SENSORNODE_NODE_ID": "node1", "SENSORNODE_TOPIC": topic, "SENSORNODE_DIR": dir,
		"SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(), "SENSORNODE_ADMIN_ADDR": "127.0.0.1:0",
		"SENSORNODE_CREATE_TOPICS": "true", "SENSORNODE_NAME_TIME_ZONE": "UTC",
		"SENSORNODE_SETTLE_INTERVAL": "1s", "SENSORNODE_PARTIAL_TIMEOUT": "4s", "SENSORNODE_RESCAN_INTERVAL": "2s",
	}
	col := collect(t, st, topic)

	// Watch the directory: a valid file may only disappear after its ack.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		present := map[string]bool{}
		for watchCtx.Err() == nil {
			now := map[string]bool{}
			if des, err := os.ReadDir(dir); err == nil {
				for _, de := range des {
					now[de.Name()] = true
				}
			}
			ackMu.Lock()
			for n := range present {
				if !now[n] && strings.HasSuffix(n, ".jpg") && !acked[n] && n != "empty.jpg" && n != "truncated.jpg" && n != "stalled.jpg" {
					violations = append(violations, n+": disappeared without an ack")
				}
			}
			ackMu.Unlock()
			present = now
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { stopWatch(); <-watchDone }()

	_, reg, stop := startInProcess(t, env, opt)

	// Live arrivals: renamed into place or written directly.
	for i := 100; i < 199; i++ {
		b := uniqueJPEG(mixedSizes[i%3], i)
		n := fmt.Sprintf("live-%03d.jpg", i)
		if i%2 == 0 {
			if err := spool.WriteAtomic(dir, n, b); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		valid[sum(b)] = n
	}
	// Junk.
	trunc := uniqueJPEG(jpegsynth.Size640x480, 500)
	for n, b := range map[string][]byte{"empty.jpg": nil, "truncated.jpg": trunc[:len(trunc)/2], "notes.txt": []byte("temperature log, not a picture\n")} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stalled, err := os.Create(filepath.Join(dir, "stalled.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write(uniqueJPEG(jpegsynth.Size1280x720, 501)[:100000]); err != nil {
		t.Fatal(err)
	}
	// The 200th valid picture, written slowly: 6 chunks, 1.5 s apart
	// (longer than the 1 s settle time), the file kept open.
	slow := uniqueJPEG(jpegsynth.Size1280x720, 199)
	valid[sum(slow)] = "slow.jpg"
	f, err := os.Create(filepath.Join(dir, "slow.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	step := len(slow)/6 + 1
	for off := 0; off < len(slow); off += step {
		if _, err := f.Write(slow[off:min(off+step, len(slow))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if len(valid) != 200 {
		t.Fatalf("test bug: %d distinct valid pictures", len(valid))
	}

	svctest.Eventually(t, 2*time.Minute, "all 200 pictures on the topic", func() bool { return col.hasAll(valid) })
	q := filepath.Join(dir, ".quarantine")
	wantJunk := map[string]string{"empty.jpg": "empty", "truncated.jpg": "truncated-jpeg", "notes.txt": "not-jpeg", "stalled.jpg": "truncated-jpeg"}
	svctest.Eventually(t, time.Minute, "junk quarantined and the directory empty", func() bool {
		for n := range wantJunk {
			if _, err := os.Stat(filepath.Join(q, n+".reason")); err != nil {
				return false
			}
		}
		return len(regularFiles(t, dir)) == 0
	})
	time.Sleep(2 * time.Second) // let any extra (duplicate) record arrive
	stop()

	recs, bad := col.snapshot()
	if len(bad) > 0 {
		t.Errorf("undecodable records: %v", bad)
	}
	if len(recs) != 200 {
		t.Errorf("records on the topic = %d, want exactly 200", len(recs))
	}
	seen := map[[32]byte]int{}
	for _, r := range recs {
		seen[r.sum]++
		if _, ok := valid[r.sum]; !ok {
			t.Errorf("record %s (%d bytes) is not one of the valid pictures", r.key, r.size)
		}
	}
	for s, n := range valid {
		if seen[s] != 1 {
			t.Errorf("%s arrived %d times, want once (byte-identical)", n, seen[s])
		}
	}
	for n, reason := range wantJunk {
		b, err := os.ReadFile(filepath.Join(q, n+".reason"))
		if err != nil || !strings.Contains(string(b), "reason: "+reason+"\n") {
			t.Errorf("%s.reason = %q, %v; want reason %s", n, b, err, reason)
		}
		if _, err := os.Stat(filepath.Join(q, n)); err != nil {
			t.Errorf("%s not in quarantine: %v", n, err)
		}
	}
	ackMu.Lock()
	if len(violations) > 0 {
		t.Errorf("files deleted before their ack: %v", violations)
	}
	ackMu.Unlock()

	// Start-up files first, in capture order, before any live file.
	var startup []record
	maxStartup, minLive := int64(-1), int64(1<<62)
	for _, r := range recs {
		n := valid[r.sum]
		if _, ok := captured[n]; ok {
			startup = append(startup, r)
			maxStartup = max(maxStartup, r.offset)
		} else {
			minLive = min(minLive, r.offset)
		}
	}
	sort.Slice(startup, func(i, j int) bool { return startup[i].offset < startup[j].offset })
	for i := 1; i < len(startup); i++ {
		if captured[valid[startup[i].sum]] < captured[valid[startup[i-1].sum]] {
			t.Errorf("start-up files out of capture order: %s sent after %s", valid[startup[i-1].sum], valid[startup[i].sum])
			break
		}
	}
	if maxStartup > minLive {
		t.Errorf("a live file (offset %d) was sent before a start-up file (offset %d)", minLive, maxStartup)
	}
	if got := svctest.Metric(t, reg, "sensornode_camera_pictures_sent_total"); got != 200 {
		t.Errorf("sent metric = %v, want 200", got)
	}
	if got := svctest.Metric(t, reg, "sensornode_camera_pictures_quarantined_total"); got != 4 {
		t.Errorf("quarantined metric = %v, want 4", got)
	}
}

// shuffled is a fixed permutation of 0..n-1.
func shuffled(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i*37 + 11) % n
	}
	return out
}

// All edge brokers stopped for 30 s while 50 more pictures (1280x720, 12 MB
// in all) arrive: the files wait on disk, /readyz says not ready, the
// producer holds at most its configured queue in memory, and when the
// brokers return all 50 arrive without a restart.
func TestIntegrationBrokerOutage(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "node")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 1, 3)
	dir := t.TempDir()
	const queueMax = 2 << 20
	p := startBinary(t, map[string]string{
		"SENSORNODE_NODE_ID": "node4", "SENSORNODE_TOPIC": topic, "SENSORNODE_DIR": dir,
		"SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(), "SENSORNODE_CHECK_INTERVAL": "1s",
		"SENSORNODE_KAFKA_QUEUE_MAX_BYTES": fmt.Sprint(queueMax), "SENSORNODE_KAFKA_MAX_MESSAGE_BYTES": fmt.Sprint(1 << 20),
		"SENSORNODE_RETRY_MAX_INTERVAL": "5s",
	})
	col := collect(t, st, topic)
	want := map[[32]byte]string{}
	for i := 0; i < 10; i++ {
		b := uniqueJPEG(mixedSizes[i%3], 2000+i)
		n := fmt.Sprintf("before-%02d.jpg", i)
		if err := spool.WriteAtomic(dir, n, b); err != nil {
			t.Fatal(err)
		}
		want[sum(b)] = n
	}
	svctest.Eventually(t, time.Minute, "the first 10 pictures delivered", func() bool { return col.hasAll(want) })
	svctest.Eventually(t, 30*time.Second, "ready", func() bool { return p.ready() == 200 })

	var peak struct {
		sync.Mutex
		inflight, heap, live, rss, backlog float64
		notReady                           bool
	}
	sample := func() {
		m, err := p.metrics()
		if err != nil {
			return
		}
		peak.Lock()
		defer peak.Unlock()
		peak.inflight = max(peak.inflight, m[`sensornode_kafka_producer_inflight_bytes{client="camera-producer"}`])
		peak.heap = max(peak.heap, m["go_memstats_heap_inuse_bytes"])
		peak.live = max(peak.live, liveHeap(m))
		peak.rss = max(peak.rss, m["process_resident_memory_bytes"])
		peak.backlog = max(peak.backlog, m["sensornode_camera_backlog_files"])
		if p.ready() == 503 {
			peak.notReady = true
		}
	}
	m0, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	heapBefore, liveBefore := m0["go_memstats_heap_inuse_bytes"], liveHeap(m0)
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampleCtx.Err() == nil {
			sample()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	defer func() { stopSampling(); <-sampled }()

	outageStart := time.Now()
	for _, b := range edgeBrokerNames(st) {
		devstacktest.KillForTest(t, st, b) // restarted below; the cleanup is a safety net
	}
	total := 0
	for i := 0; i < 50; i++ {
		b := uniqueJPEG(jpegsynth.Size1280x720, 3000+i)
		n := fmt.Sprintf("outage-%02d.jpg", i)
		if err := spool.WriteAtomic(dir, n, b); err != nil {
			t.Fatal(err)
		}
		want[sum(b)] = n
		total += len(b)
		time.Sleep(400 * time.Millisecond) // they keep arriving during the outage
	}
	time.Sleep(time.Until(outageStart.Add(30 * time.Second)))
	onDisk := len(regularFiles(t, dir))
	peak.Lock()
	notReady := peak.notReady
	peak.Unlock()
	var wg sync.WaitGroup
	for _, b := range edgeBrokerNames(st) {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := st.Start(ctx, name); err != nil {
				t.Errorf("start %s: %v", name, err)
			}
		}(b)
	}
	wg.Wait()
	t.Logf("brokers back after %v; %d pictures were waiting on disk", time.Since(outageStart).Round(time.Second), onDisk)

	// A file leaves the directory only once Kafka has acknowledged it: the
	// producer's side first, then the read-back, both within 3 minutes of
	// the brokers' return. The read-back is a fresh consumer group started
	// after the drain: the group consumer started before the outage must
	// first recover its group from a whole-cluster restart, which is the
	// consumers' concern (forwarder and chaos suites), not the producer's,
	// and on franz it once took over 3 minutes here (CI, 2026-12-06) while
	// the directory had drained.
	back := time.Now()
	svctest.Eventually(t, 3*time.Minute, "the directory drained (every picture acknowledged)", func() bool { return len(regularFiles(t, dir)) == 0 })
	drained := time.Since(back)
	fresh := collectAs(t, st, topic, topic+"-after")
	svctest.Eventually(t, 3*time.Minute-drained, "all 60 pictures read back within 3 minutes of the brokers' return", func() bool { return fresh.hasAll(want) })
	t.Logf("after the brokers were back: directory drained in %v, all 60 read back in %v (the pre-outage consumer group had %d of them by then)",
		drained.Round(time.Second), time.Since(back).Round(time.Second), len(want)-len(col.missing(want)))
	svctest.Eventually(t, 30*time.Second, "ready again", func() bool { return p.ready() == 200 })
	stopSampling()
	<-sampled
	p.stop()

	peak.Lock()
	defer peak.Unlock()
	t.Logf("outage: %d pictures, %d bytes; peak in-flight bytes %.0f (bound %d); live heap %.1f MiB before, peak %.1f MiB; heap in use %.1f MiB before, peak %.1f MiB; peak RSS %.1f MiB; peak backlog %.0f files",
		50, total, peak.inflight, queueMax, liveBefore/(1<<20), peak.live/(1<<20), heapBefore/(1<<20), peak.heap/(1<<20), peak.rss/(1<<20), peak.backlog)
	if onDisk < 40 {
		t.Errorf("only %d files on disk at the end of the outage, want most of the 50 waiting there", onDisk)
	}
	if !notReady {
		t.Errorf("/readyz never reported not ready during the outage")
	}
	// librdkafka bounds payload bytes by queue.buffering.max.kbytes; the
	// in-flight metric also counts keys and headers (< 1 KiB per record).
	if limit := float64(queueMax + 64<<10); peak.inflight > limit {
		t.Errorf("peak in-flight bytes %.0f > bound %.0f", peak.inflight, limit)
	}
	if peak.inflight < float64(queueMax)/2 {
		t.Errorf("peak in-flight bytes %.0f: the queue never filled, so the bound was not exercised", peak.inflight)
	}
	// The live Go heap (what survives a collection) holds at most the
	// picture being enqueued beyond its baseline: librdkafka copies records
	// into its own bounded queue. Were the backlog read into memory it
	// would grow by the 12 MB on disk. (Heap in use also counts garbage
	// awaiting collection, up to GOGC percent more, so it is only logged.)
	if growth := peak.live - liveBefore; growth > float64(3*queueMax) {
		t.Errorf("live heap grew by %.1f MiB during the outage (backlog %.1f MiB), want < %.1f MiB",
			growth/(1<<20), float64(total)/(1<<20), float64(3*queueMax)/(1<<20))
	}
	recs, _ := fresh.snapshot()
	checkKeys(t, recs)
}

// liveHeap estimates the heap that survived the last collection: the
// runtime sets the next GC goal to live * (1 + GOGC/100).
func liveHeap(m map[string]float64) float64 {
	gogc := m["go_gc_gogc_percent"]
	if gogc <= 0 {
		gogc = 100
	}
	return m["go_memstats_next_gc_bytes"] / (1 + gogc/100)
}

// checkKeys: any duplicates share a key, and a key names one picture.
func checkKeys(t *testing.T, recs []record) {
	t.Helper()
	keysBySum := map[[32]byte]map[string]bool{}
	sumByKey := map[string][32]byte{}
	for _, r := range recs {
		if keysBySum[r.sum] == nil {
			keysBySum[r.sum] = map[string]bool{}
		}
		keysBySum[r.sum][r.key] = true
		if s, ok := sumByKey[r.key]; ok && s != r.sum {
			t.Errorf("key %s names two different pictures", r.key)
		}
		sumByKey[r.key] = r.sum
	}
	for _, ks := range keysBySum {
		if len(ks) != 1 {
			t.Errorf("one picture under %d keys: %v", len(ks), ks)
		}
	}
}

// The producer is killed with SIGKILL while pictures keep arriving, then
// restarted on the same directory: every picture arrives at least once and
// duplicates share their key.
func TestIntegrationKilledAndRestarted(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "node")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 1, 3)
	dir := t.TempDir()
	env := map[string]string{
		"SENSORNODE_NODE_ID": "node5", "SENSORNODE_TOPIC": topic, "SENSORNODE_DIR": dir,
		"SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(), "SENSORNODE_FORM": "json",
	}
	col := collect(t, st, topic)
	const n = 150
	want := map[[32]byte]string{}
	var wmu sync.Mutex
	write := func(i int) error {
		b := uniqueJPEG(mixedSizes[i%3], 4000+i)
		name := fmt.Sprintf("%02d-%s-%02d.jpg", i, time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second).Format("20060102150405"), 0)
		wmu.Lock()
		want[sum(b)] = name
		wmu.Unlock()
		return spool.WriteAtomic(dir, name, b)
	}
	// A backlog of 100 at start-up, 50 more arriving while it runs.
	for i := 0; i < 100; i++ {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	p := startBinary(t, env)
	writerDone := make(chan error, 1)
	go func() {
		for i := 100; i < n; i++ {
			if err := write(i); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		writerDone <- nil
	}()
	// Kill once a good part has been acknowledged (files deleted), while the
	// writer is still busy.
	svctest.Eventually(t, time.Minute, "40 pictures delivered", func() bool {
		recs, _ := col.snapshot()
		return len(recs) >= 40
	})
	p.kill()
	recs, _ := col.snapshot()
	t.Logf("SIGKILL after %d records; %d files left in the directory", len(recs), len(regularFiles(t, dir)))
	time.Sleep(time.Second)
	p2 := startBinary(t, env)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	wmu.Lock()
	all := want
	wmu.Unlock()
	svctest.Eventually(t, 2*time.Minute, "every picture delivered at least once", func() bool { return col.hasAll(all) })
	svctest.Eventually(t, time.Minute, "the directory drained", func() bool { return len(regularFiles(t, dir)) == 0 })
	time.Sleep(2 * time.Second)
	p2.stop()

	recs, bad := col.snapshot()
	if len(bad) > 0 {
		t.Errorf("undecodable records: %v", bad)
	}
	if m := col.missing(all); len(m) > 0 {
		t.Errorf("missing pictures: %v", m)
	}
	checkKeys(t, recs)
	t.Logf("%d pictures, %d records (%d duplicates, all sharing their key)", len(all), len(recs), len(recs)-len(all))
}
