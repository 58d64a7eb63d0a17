//go:build integration

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/e2e/chaos"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
	"github.com/sensornode/sensornode/tools/devstack/faultproxy"
)

// The chaos run's fixed shape.
const (
	chaosCameras       = 2 // camera-producers in directory mode
	chaosTempNodes     = 2 // temp-producers reading a file (node1 binary form, node2 JSON)
	chaosReplicas      = 2 // edge-forwarder and cloud-ingest-hdfs replicas each
	chaosSession       = 6 // group session timeout of both services, seconds
	chaosPictureEvery  = 500 * time.Millisecond
	chaosReadingsEvery = 100 * time.Millisecond
)

// TestChaos is the seeded fault-injection run (make chaos, make
// chaos-smoke): camera-producers and temp-producers fed by ledger
// writers, two edge-forwarders and two cloud-ingest-hdfs replicas,
// a nemesis that injects the plan from CHAOS_SEED, and the checker. It only
// runs with CHAOS=1 (not part of make test yet).
func TestChaos(t *testing.T) {
	if os.Getenv("CHAOS") == "" {
		t.Skip("the chaos suite runs with CHAOS=1 (make chaos, make chaos-smoke)")
	}
	seed := uint64(time.Now().UnixNano() % 1_000_000)
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	duration := 3 * time.Minute
	if s := os.Getenv("CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("CHAOS_DURATION=%q: %v", s, err)
		}
		duration = d
	}
	faults, err := chaos.ParseFaults(os.Getenv("CHAOS_FAULTS"))
	if err != nil {
		t.Fatal(err)
	}
	plan := chaos.NewPlan(seed, duration, faults)
	t.Logf("CHAOS_SEED=%d CHAOS_DURATION=%v CHAOS_FAULTS=%s\n%s", seed, duration, os.Getenv("CHAOS_FAULTS"), plan)

	st := devstacktest.Stack(t)
	devstacktest.Exclusive(t, st)
	c := newChaosRun(t, st, plan)
	c.run(t, duration)
}

type chaosRun struct {
	*env
	plan    chaos.Plan
	rng     *rand.Rand
	proxy   *faultproxy.Proxy
	fwds    []*proc
	ingests []*proc
	cams    []*proc
	camDirs []string
	camFS   []string // the tmpfs mount of each camera's spool (SpoolDiskFull), else ""
	camera  string   // camera-producer binary
	temps   []*proc  // temp-producers, node1..
	tempIn  []string // the reading file each temp-producer reads
	tempAdm []string // each temp-producer's admin address (the same across restarts)
	tempBin string   // temp-producer binary

	ledgerMu sync.Mutex
	ledger   *chaos.Ledger
	cutShort [2]int // spool-disk-full: files cut short (junk now), files not created

	sampleMu sync.Mutex
	tl       chaos.Timeline
}

func newChaosRun(t *testing.T, st *devstack.Stack, plan chaos.Plan) *chaosRun {
	t.Helper()
	dir := t.TempDir()
	bins := binaries{forwarder: filepath.Join(dir, "edge-forwarder"), ingest: filepath.Join(dir, "cloud-ingest-hdfs")}
	camera, tempBin := filepath.Join(dir, "camera-producer"), filepath.Join(dir, "temp-producer")
	var flags []string
	if os.Getenv("CHAOS_RACE") != "" {
		flags = []string{"-race"}
	}
	buildPkgs(t, flags, map[string]string{bins.forwarder: "./services/edge-forwarder/cmd/edge-forwarder",
		bins.ingest: "./services/cloud-ingest-hdfs/cmd/cloud-ingest-hdfs", camera: "./services/camera-producer/cmd/camera-producer",
		tempBin: "./services/temp-producer/cmd/temp-producer"})
	c := &chaosRun{plan: plan, rng: rand.New(rand.NewPCG(plan.Seed, 1)), camera: camera, tempBin: tempBin, ledger: chaos.NewLedger(),
		tl: chaos.Timeline{Seed: plan.Seed}}
	// The nemesis restarts what it stopped; if the run fails half-way, the
	// cleanup does (after the services are stopped).
	devstacktest.RestartOnCleanup(t, st, devstack.NameNodeName)
	devstacktest.RestartOnCleanup(t, st, devstack.DataNodeName)
	for b := 1; b <= st.EdgeBrokers(); b++ {
		devstacktest.RestartOnCleanup(t, st, devstack.EdgeKafkaName(b))
	}
	for z := 1; z <= len(st.ZooKeeperServers()); z++ {
		devstacktest.RestartOnCleanup(t, st, devstack.ZooKeeperName(z))
	}
	c.env = newEnv(t, st, bins, newPictureSet(t)) // cloud topics with 3 partitions each
	proxy, err := faultproxy.New(st.CloudProxiedBootstrap(), st.CloudProxiedTarget())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	c.proxy = proxy
	c.forwarderCloud = st.CloudProxiedBootstrap()
	// The env's own fwd and ingest are replica 1; replica 2 and the
	// cameras are stopped here (SIGTERM, clean exit expected).
	c.fwds = []*proc{c.fwd, {name: "edge-forwarder-2", bin: bins.forwarder, logPath: filepath.Join(c.logDir, "edge-forwarder-2.log")}}
	c.ingests = []*proc{c.ingest, {name: "cloud-ingest-hdfs-2", bin: bins.ingest, logPath: filepath.Join(c.logDir, "cloud-ingest-hdfs-2.log")}}
	t.Cleanup(func() {
		for _, p := range append(append(append([]*proc{}, c.cams...), c.temps...), c.fwds[1], c.ingests[1]) {
			p.stop(t)
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", p.name, tail(p.logPath))
			}
		}
	})
	return c
}

func (c *chaosRun) run(t *testing.T, duration time.Duration) {
	for _, p := range c.ingests {
		p.env = c.ingestEnv()
		p.start(t)
	}
	for _, p := range c.fwds {
		p.env = c.forwarderEnv()
		p.start(t)
	}
	for i := range chaosCameras {
		c.startCamera(t, i)
	}
	for n := range chaosTempNodes {
		c.startTemperature(t, n)
	}
	c.tl.Start = time.Now()
	ctx, stopWorkload := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range chaosCameras {
		wg.Add(1)
		go func() { defer wg.Done(); c.writePictures(ctx, t, i) }()
	}
	for n := range chaosTempNodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.writeReadings(ctx, t, n) }()
	}
	samplerDone := make(chan struct{})
	sampleCtx, stopSampler := context.WithCancel(context.Background())
	go func() { defer close(samplerDone); c.sample(sampleCtx, t) }()

	for i, s := range c.plan.Steps {
		if w := time.Until(c.tl.Start.Add(s.At)); w > 0 {
			time.Sleep(w)
		}
		ev := c.inject(t, i, s)
		c.sampleMu.Lock()
		c.tl.Events = append(c.tl.Events, ev)
		c.sampleMu.Unlock()
		if ev.Err != "" {
			t.Logf("step %d %s: %s", i+1, s.Fault, ev.Err)
			continue
		}
		rec := c.waitRecovered(t, ev.Healed, chaosSession*time.Second+60*time.Second)
		c.sampleMu.Lock()
		c.tl.Events[len(c.tl.Events)-1].Recovered = rec
		c.sampleMu.Unlock()
		t.Logf("step %d %s: injected %.1fs, healed %.1fs, recovered %s", i+1, s.Fault,
			ev.Injected.Sub(c.tl.Start).Seconds(), ev.Healed.Sub(c.tl.Start).Seconds(), relTime(c.tl.Start, rec))
	}
	if w := time.Until(c.tl.Start.Add(duration)); w > 0 {
		time.Sleep(w)
	}
	stopWorkload()
	wg.Wait()
	c.drain(t, 4*time.Minute)
	stopSampler()
	<-samplerDone

	c.ledgerMu.Lock()
	if c.cutShort != [2]int{} {
		t.Logf("spool-disk-full: %d files cut short by the full disk (junk in the ledger), %d not created", c.cutShort[0], c.cutShort[1])
	}
	c.ledgerMu.Unlock()
	o := c.observe(t)
	if chaos.PlantedDefect {
		t.Logf("planted defect (build tag chaos_planted_defect): dropped reading %s", chaos.DropOneReading(&o))
		if c.store == storeAvro {
			t.Logf("planted defect (build tag chaos_planted_defect): key %s committed in a second bundle", chaos.DuplicateOneBundleKey(&o))
		}
	}
	c.ledgerMu.Lock()
	r := chaos.Check(c.ledger, o, c.tl, c.plan, chaosSession*time.Second+60*time.Second)
	c.ledgerMu.Unlock()
	c.writeReport(t, duration, r)
	if !r.OK() {
		t.Error(r.Failure(c.tl, 40))
	} else {
		t.Logf("chaos: no violations\n%s", c.tl)
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func relTime(start, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.1fs", t.Sub(start).Seconds())
}

// ---------------------------------------------------------------- workload

func (c *chaosRun) startCamera(t *testing.T, i int) {
	t.Helper()
	dir := filepath.Join(c.logDir, fmt.Sprintf("camera%d", i+1))
	mnt := ""
	if slices.ContainsFunc(c.plan.Steps, func(s chaos.Step) bool { return s.Fault == chaos.SpoolDiskFull }) {
		// A file system of its own that the nemesis can fill: the spool
		// and, beside it, the nemesis's filler file.
		mnt = filepath.Join(c.logDir, fmt.Sprintf("camera%d-fs", i+1))
		dir = filepath.Join(mnt, "spool")
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Fatalf("spool-disk-full needs a tmpfs for the spool (root): mount: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.camDirs = append(c.camDirs, dir)
	c.camFS = append(c.camFS, mnt)
	vars := map[string]string{
		"SENSORNODE_ADMIN_ADDR":              "127.0.0.1:0",
		"SENSORNODE_NODE_ID":                 fmt.Sprintf("node%d", i+1),
		"SENSORNODE_CAMERA_ID":               fmt.Sprintf("C%d", i+1),
		"SENSORNODE_TOPIC":                   c.nodeTopics[i],
		"SENSORNODE_SOURCE":                  "directory",
		"SENSORNODE_DIR":                     dir,
		"SENSORNODE_NAME_TIME_ZONE":          "UTC",
		"SENSORNODE_SETTLE_INTERVAL":         "1s",
		"SENSORNODE_PARTIAL_TIMEOUT":         "20s",
		"SENSORNODE_RESCAN_INTERVAL":         "5s",
		"SENSORNODE_RETRY_MAX_INTERVAL":      "5s",
		"SENSORNODE_KAFKA_BROKERS":           c.st.EdgeBootstrap(),
		"SENSORNODE_KAFKA_DELIVERY_TIMEOUT":  "30s",
		"SENSORNODE_KAFKA_MAX_MESSAGE_BYTES": "2097152",
	}
	c.cams = append(c.cams, c.startProducer(t, fmt.Sprintf("camera-producer-%d", i+1), c.camera, vars))
}

// startProducer starts a producer binary with vars (and the test's Kafka
// backend).
func (c *chaosRun) startProducer(t *testing.T, name, bin string, vars map[string]string) *proc {
	t.Helper()
	if b := os.Getenv("SENSORNODE_TEST_KAFKA_BACKEND"); b != "" {
		vars["SENSORNODE_KAFKA_BACKEND"] = b
	}
	p := &proc{name: name, bin: bin, logPath: filepath.Join(c.logDir, name+".log"), env: baseEnv(vars)}
	p.start(t)
	return p
}

// writePictures is the ledger writer of one camera: motion-style names
// (%v-%Y%m%d%H%M%S-%q), most files written at once, some slowly, some
// half-written and completed seconds later, some junk.
func (c *chaosRun) writePictures(ctx context.Context, t *testing.T, cam int) {
	rng := rand.New(rand.NewPCG(c.plan.Seed, uint64(100+cam)))
	dir := c.camDirs[cam]
	event := 1
	for i := 0; ctx.Err() == nil; i++ {
		if i%20 == 0 {
			event++
		}
		now := time.Now().UTC()
		name := fmt.Sprintf("%02d-%s-%02d.jpg", event, now.Format("20060102150405"), i%100)
		kind := rng.IntN(100)
		if kind < 5 {
			junk := fmt.Appendf(nil, "chaos junk seed %d camera %d #%d: not a JPEG\n", c.plan.Seed, cam+1, i)
			c.ledgerMu.Lock()
			c.ledger.Junk[fmt.Sprintf("camera%d/%s", cam+1, name)] = chaos.Item{What: "not a JPEG", At: now}
			c.ledgerMu.Unlock()
			if err := os.WriteFile(filepath.Join(dir, name), junk, 0o644); err != nil && !c.diskFull(cam, name, now, err) {
				t.Errorf("ledger writer: %v", err)
				return
			}
			sleepCtx(ctx, chaosPictureEvery)
			continue
		}
		jpeg := withComment(c.pics.jpegs[cam%nodes][i%picsPerNode], fmt.Sprintf("chaos seed %d camera %d picture %d", c.plan.Seed, cam+1, i))
		sum := sha256Sum(jpeg)
		c.ledgerMu.Lock()
		c.ledger.Pictures[sum] = chaos.Item{What: fmt.Sprintf("camera%d/%s", cam+1, name), At: now}
		c.ledgerMu.Unlock()
		if err := writeFileIn(ctx, filepath.Join(dir, name), jpeg, kind); err != nil {
			if !c.diskFull(cam, name, now, err) {
				t.Errorf("ledger writer: %v", err)
				return
			}
			c.ledgerMu.Lock()
			delete(c.ledger.Pictures, sum) // cut short: junk now (or nothing, see diskFull)
			c.ledgerMu.Unlock()
		}
		sleepCtx(ctx, chaosPictureEvery)
	}
}

// diskFull reports whether err is the spool's file system being full
// (SpoolDiskFull); then the file, as far as it got written, is junk the
// camera-producer must quarantine, like a picture motion could not finish.
// A file that was not even created is not in the ledger at all.
func (c *chaosRun) diskFull(cam int, name string, at time.Time, err error) bool {
	if !errors.Is(err, syscall.ENOSPC) {
		return false
	}
	key := fmt.Sprintf("camera%d/%s", cam+1, name)
	c.ledgerMu.Lock()
	defer c.ledgerMu.Unlock()
	if _, serr := os.Stat(filepath.Join(c.camDirs[cam], name)); serr != nil {
		delete(c.ledger.Junk, key)
		c.cutShort[1]++
		return true
	}
	c.ledger.Junk[key] = chaos.Item{What: "cut short: disk full", At: at}
	c.cutShort[0]++
	return true
}

// fillFS writes a filler file beside the spool of the tmpfs mnt until the
// file system is full; the returned func removes it again.
func fillFS(mnt string) (func() error, error) {
	name := filepath.Join(mnt, "chaos-filler")
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	free := func() error { return os.Remove(name) }
	for _, n := range []int{1 << 20, 4 << 10, 1} {
		b := make([]byte, n)
		for {
			if _, err := f.Write(b); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					break
				}
				_ = free()
				return nil, err
			}
		}
	}
	return free, nil
}

// writeFileIn writes a picture: kind < 85 at once, < 93 in four slow
// chunks, else half, a pause of 3 s, then the rest.
func writeFileIn(ctx context.Context, name string, b []byte, kind int) error {
	if kind < 85 {
		return os.WriteFile(name, b, 0o644)
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	chunks, pause := 4, 300*time.Millisecond
	if kind >= 93 {
		chunks, pause = 2, 3*time.Second
	}
	n := (len(b) + chunks - 1) / chunks
	for off := 0; off < len(b); off += n {
		if off > 0 {
			time.Sleep(pause) // not ctx: a half-written file is always completed
		}
		if _, err := f.Write(b[off:min(off+n, len(b))]); err != nil {
			return err
		}
	}
	return f.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// startTemperature starts the temp-producer of node n+1: source file (the
// original design's /tempN file, the reading time is the file's mtime), a
// write-ahead spool, node1 in the binary form, node2 in the JSON form. Its
// admin address stays the same across restarts, for writeReadings.
func (c *chaosRun) startTemperature(t *testing.T, n int) {
	t.Helper()
	dir := filepath.Join(c.logDir, fmt.Sprintf("temp%d", n+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	form := []string{"binary", "json"}[n%2]
	vars := map[string]string{
		"SENSORNODE_ADMIN_ADDR":         svctest.FreeAddr(t),
		"SENSORNODE_NODE_ID":            fmt.Sprintf("node%d", n+1),
		"SENSORNODE_TOPIC":              c.tempTopic,
		"SENSORNODE_FORM":               form,
		"SENSORNODE_SOURCE":             "file",
		"SENSORNODE_FILE_PATH":          filepath.Join(dir, "reading"),
		"SENSORNODE_READ_INTERVAL":      "20ms",
		"SENSORNODE_SPOOL_DIR":          filepath.Join(c.logDir, fmt.Sprintf("temp%d-spool", n+1)),
		"SENSORNODE_RETRY_MAX_INTERVAL": "5s",
		"SENSORNODE_KAFKA_BROKERS":      c.st.EdgeBootstrap(),
	}
	c.temps = append(c.temps, c.startProducer(t, fmt.Sprintf("temp-producer-%d", n+1), c.tempBin, vars))
	c.tempIn = append(c.tempIn, filepath.Join(dir, "reading"))
	c.tempAdm = append(c.tempAdm, vars["SENSORNODE_ADMIN_ADDR"])
}

// writeReadings is the ledger writer of temp-producer n+1: every 0.1 s a
// new reading in its file (written beside it and renamed, mtime set to a
// time unique to the millisecond, a value unique within its second), put
// in the ledger, then waited for until the temp-producer took it (its
// sensornode_temp_last_reading_timestamp_seconds shows the mtime: counted
// only once the reading is in its spool), so every reading in the ledger
// is one the producer took, and a producer killed before it took one
// takes it after its restart. A reading the producer took twice (killed
// after its spool write, then read again) has one identity: ingest stores
// it once.
func (c *chaosRun) writeReadings(ctx context.Context, t *testing.T, n int) {
	p, file, admin := c.temps[n], c.tempIn[n], c.tempAdm[n]
	node := fmt.Sprintf("node%d", n+1)
	var last time.Time
	for k := 0; ctx.Err() == nil; k++ {
		at := time.Now().UTC().Truncate(time.Millisecond)
		if !at.After(last) {
			at = last.Add(time.Millisecond)
		}
		last = at
		text := fmt.Sprintf("%d.%d", 40+k%100/10, k%10) // 40.0 .. 49.9: unique within any 10 readings
		celsius, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Error(err)
			return
		}
		id := messages.ReadingIdentity(node, at, celsius, "file")
		c.ledgerMu.Lock()
		c.ledger.Readings[id] = chaos.Item{What: id, At: at}
		c.ledgerMu.Unlock()
		tmp := filepath.Join(filepath.Dir(file), ".reading.tmp")
		if err := os.WriteFile(tmp, []byte("temp="+text+"'C\n"), 0o644); err != nil {
			t.Errorf("temperature ledger writer: %v", err)
			return
		}
		if err := os.Chtimes(tmp, at, at); err != nil {
			t.Errorf("temperature ledger writer: %v", err)
			return
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Errorf("temperature ledger writer: %v", err)
			return
		}
		// Wait until it is taken, also after the workload ended: the
		// ledger holds it already.
		want := float64(at.UnixNano()) / 1e9
		deadline := time.Now().Add(3 * time.Minute)
		for {
			if v, found, err := scrapeMetric(admin, "sensornode_temp_last_reading_timestamp_seconds"); err == nil && found && math.Abs(v-want) < 1e-4 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s did not take reading %s within 3 minutes", p.name, id)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		sleepCtx(ctx, chaosReadingsEvery)
	}
}

// ---------------------------------------------------------------- nemesis

func (c *chaosRun) inject(t *testing.T, i int, s chaos.Step) chaos.Event {
	ev := chaos.Event{Step: s}
	fail := func(format string, args ...any) chaos.Event {
		ev.Err = fmt.Sprintf(format, args...)
		return ev
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	switch s.Fault {
	case chaos.ForwarderSIGKILL, chaos.IngestSIGKILL, chaos.ProducerSIGKILL:
		ps := map[chaos.Fault][]*proc{chaos.ForwarderSIGKILL: {c.fwds[s.Target%len(c.fwds)]},
			chaos.IngestSIGKILL:   {c.ingests[s.Target%len(c.ingests)]},
			chaos.ProducerSIGKILL: {c.cams[s.Target%len(c.cams)], c.temps[s.Target%len(c.temps)]}}[s.Fault]
		ev.Injected = time.Now()
		for _, p := range ps {
			p.kill(t)
		}
		time.Sleep(s.Hold)
		for _, p := range ps {
			p.start(t)
		}
	case chaos.IngestSIGTERMHDFSDown:
		p := c.ingests[s.Target%len(c.ingests)]
		ev.Injected = time.Now()
		if err := c.st.Kill(ctx, devstack.NameNodeName, syscall.SIGKILL); err != nil {
			return fail("kill namenode: %v", err)
		}
		time.Sleep(s.Hold / 2)
		if err := p.terminate(); err != nil {
			t.Logf("step %d: %s after SIGTERM with HDFS down: %v", i+1, p.name, err)
		}
		time.Sleep(s.Hold - s.Hold/2)
		if err := c.st.Start(ctx, devstack.NameNodeName); err != nil {
			return fail("restart namenode: %v", err)
		}
		p.start(t)
	case chaos.IngestSIGSTOP:
		p := c.ingests[s.Target%len(c.ingests)]
		ev.Injected = time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			return fail("SIGSTOP %s: %v", p.name, err)
		}
		time.Sleep(s.Hold)
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			return fail("SIGCONT %s: %v", p.name, err)
		}
	case chaos.LinkCut:
		ev.Injected = time.Now()
		c.proxy.Cut()
		time.Sleep(s.Hold)
		if err := c.proxy.Restore(); err != nil {
			return fail("restore link: %v", err)
		}
	case chaos.Malformed:
		ev.Injected = time.Now()
		if err := c.injectMalformed(i); err != nil {
			return fail("malformed: %v", err)
		}
	case chaos.EdgeBrokerSIGSTOP:
		name := devstack.EdgeKafkaName(1 + s.Target%c.st.EdgeBrokers())
		ev.Injected = time.Now()
		if err := c.st.Pause(name); err != nil {
			return fail("pause %s: %v", name, err)
		}
		time.Sleep(s.Hold)
		if err := c.st.Resume(name); err != nil {
			return fail("resume %s: %v", name, err)
		}
	case chaos.EdgeBrokerSIGKILL, chaos.EdgeBrokersAllDown, chaos.EdgeBrokersTwoOfFive,
		chaos.ZooKeeperMinority, chaos.ZooKeeperMajority, chaos.NameNodeRestart, chaos.DataNodeRestart:
		names, err := c.victims(s)
		if err != nil {
			return fail("%v", err)
		}
		ev.Injected = time.Now()
		if err := c.killAll(ctx, names); err != nil {
			return fail("%v", err)
		}
		time.Sleep(s.Hold)
		if err := c.startAll(ctx, names); err != nil {
			return fail("%v", err)
		}
	case chaos.SpoolDiskFull:
		cam := s.Target % len(c.camFS)
		if c.camFS[cam] == "" {
			return fail("camera %d's spool has no file system of its own", cam+1)
		}
		ev.Injected = time.Now()
		free, err := fillFS(c.camFS[cam])
		if err != nil {
			return fail("fill camera %d's spool file system: %v", cam+1, err)
		}
		time.Sleep(s.Hold)
		if err := free(); err != nil {
			return fail("free camera %d's spool file system: %v", cam+1, err)
		}
	case chaos.CloudTopicRecreate:
		topic := []string{c.cloudPic, c.cloudTemp}[s.Target%2]
		ev.Injected = time.Now()
		c.proxy.Cut()
		err := c.recreateCloudTopic(ctx, t, topic)
		time.Sleep(s.Hold)
		if rerr := c.proxy.Restore(); rerr != nil {
			return fail("restore link: %v", rerr)
		}
		if err != nil {
			return fail("recreate %s: %v", topic, err)
		}
	default:
		return fail("fault %s not implemented by the driver", s.Fault)
	}
	ev.Healed = time.Now()
	return ev
}

// recreateCloudTopic waits (link cut) until ingest committed the end of
// every cloud partition, then deletes topic and creates it again with the
// same partitions.
func (c *chaosRun) recreateCloudTopic(ctx context.Context, t *testing.T, topic string) error {
	deadline := time.Now().Add(90 * time.Second)
	for !c.cloudCommitted(t) {
		if time.Now().After(deadline) {
			return fmt.Errorf("ingest did not commit the end of every cloud partition within 90 s of the link cut")
		}
		time.Sleep(time.Second)
	}
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.st.CloudBootstrap(), "log_level": 3})
	if err != nil {
		return err
	}
	defer a.Close()
	exists := func() (bool, error) {
		md, err := a.GetMetadata(&topic, false, 5000)
		if err != nil {
			return false, err
		}
		tm := md.Topics[topic]
		return tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) == 3, nil
	}
	wait := func(want bool) error {
		for ctx.Err() == nil {
			if ok, err := exists(); err == nil && ok == want {
				return nil
			}
			time.Sleep(500 * time.Millisecond)
		}
		return fmt.Errorf("topic %s exists=%t: %w", topic, !want, ctx.Err())
	}
	res, err := a.DeleteTopics(ctx, []string{topic})
	if err == nil && res[0].Error.Code() != kafka.ErrNoError {
		err = res[0].Error
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := wait(false); err != nil {
		return err
	}
	for ctx.Err() == nil { // deletion finishes on the broker after the metadata says gone
		res, err = a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}})
		if err == nil && res[0].Error.Code() == kafka.ErrTopicAlreadyExists {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if err == nil && res[0].Error.Code() != kafka.ErrNoError {
			err = res[0].Error
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		break
	}
	return wait(true)
}

// victims are the stack processes a kill-and-restart fault of step s
// kills (SIGKILL, then all started again after the hold).
func (c *chaosRun) victims(s chaos.Step) ([]string, error) {
	switch s.Fault {
	case chaos.EdgeBrokerSIGKILL:
		return []string{devstack.EdgeKafkaName(1 + s.Target%c.st.EdgeBrokers())}, nil
	case chaos.EdgeBrokersAllDown:
		var names []string
		for b := 1; b <= c.st.EdgeBrokers(); b++ {
			names = append(names, devstack.EdgeKafkaName(b))
		}
		return names, nil
	case chaos.EdgeBrokersTwoOfFive:
		n := c.st.EdgeBrokers()
		if n < 5 {
			return nil, fmt.Errorf("%s needs a stack with 5 edge brokers, this one has %d (make chaos brings one up)", s.Fault, n)
		}
		first := s.Target % n
		return []string{devstack.EdgeKafkaName(1 + first), devstack.EdgeKafkaName(1 + (first+1+s.Target/n%(n-1))%n)}, nil
	case chaos.ZooKeeperMinority, chaos.ZooKeeperMajority:
		n := len(c.st.ZooKeeperServers())
		lose := (n - 1) / 2 // the most the ensemble can lose and keep its quorum
		if s.Fault == chaos.ZooKeeperMajority {
			lose = n/2 + 1
		}
		var names []string
		for k := range lose {
			names = append(names, devstack.ZooKeeperName(1+(s.Target+k)%n))
		}
		return names, nil
	case chaos.NameNodeRestart:
		return []string{devstack.NameNodeName}, nil
	case chaos.DataNodeRestart:
		return []string{devstack.DataNodeName}, nil
	}
	return nil, fmt.Errorf("fault %s kills no stack process", s.Fault)
}

// killAll SIGKILLs the stack's processes names at once.
func (c *chaosRun) killAll(ctx context.Context, names []string) error {
	return each(names, func(n string) error {
		if err := c.st.Kill(ctx, n, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %s: %w", n, err)
		}
		return nil
	})
}

// startAll starts the stack's processes names at once (a broker's health
// check may need the others: all of a partition's replicas were down) and
// waits until each is healthy.
func (c *chaosRun) startAll(ctx context.Context, names []string) error {
	return each(names, func(n string) error {
		if err := c.st.Start(ctx, n); err != nil {
			return fmt.Errorf("restart %s: %w", n, err)
		}
		return nil
	})
}

func each(names []string, f func(string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// terminate sends SIGTERM and waits (up to a minute, then SIGKILL); it
// returns the exit error.
func (p *proc) terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-p.waitErr:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.waitErr
		err = fmt.Errorf("ignored SIGTERM for a minute")
	}
	p.cmd = nil
	return err
}

// injectMalformed writes one malformed message to an edge picture topic,
// the edge temperature topic and each cloud topic; the value carries an id
// the checker looks for in the dead-letter topics.
func (c *chaosRun) injectMalformed(step int) error {
	targets := []struct{ bootstrap, topic, what string }{
		{c.st.EdgeBootstrap(), c.nodeTopics[0], "edge picture topic"},
		{c.st.EdgeBootstrap(), c.tempTopic, "edge temperature topic"},
		{c.st.CloudBootstrap(), c.cloudPic, "cloud picture topic"},
		{c.st.CloudBootstrap(), c.cloudTemp, "cloud temperature topic"},
	}
	for j, tg := range targets {
		id := fmt.Sprintf("chaos-malformed-%d-%d-%d", c.plan.Seed, step+1, j)
		p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": tg.bootstrap, "log_level": 3, "acks": "all"})
		if err != nil {
			return err
		}
		dr := make(chan kafka.Event, 1)
		err = p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &tg.topic, Partition: kafka.PartitionAny},
			Key: []byte(id), Value: []byte(id + ": {not a picture nor a reading")}, dr)
		if err == nil {
			select {
			case ev := <-dr:
				if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
					err = m.TopicPartition.Error
				}
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("no delivery report for %s within 30 s", tg.topic)
			}
		}
		p.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", tg.topic, err)
		}
		c.ledgerMu.Lock()
		c.ledger.Malformed[id] = chaos.Item{What: tg.what, At: time.Now()}
		c.ledgerMu.Unlock()
	}
	return nil
}

// ---------------------------------------------------------------- observation

// sample records the HDFS counts every 2 s for the timeline and recovery.
func (c *chaosRun) sample(ctx context.Context, t *testing.T) {
	for ctx.Err() == nil {
		if s, ok := c.count(); ok {
			c.sampleMu.Lock()
			c.tl.Samples = append(c.tl.Samples, s)
			c.sampleMu.Unlock()
		}
		sleepCtx(ctx, 2*time.Second)
	}
}

// count is what HDFS holds now; false while HDFS cannot be read (NameNode
// down).
func (c *chaosRun) count() (s chaos.Sample, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var ft fakeT
	got := c.read(&ft, false)
	if ft.failed {
		return s, false
	}
	return chaos.Sample{At: time.Now(), Pictures: len(got.pictures), Readings: len(got.readings)}, true
}

// fakeT lets read() be used while HDFS may be down: failures are noted, not
// fatal to the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic("fakeT") }
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

// waitRecovered waits until HDFS holds at least everything the workload
// wrote up to healed (the backlog of the fault drained), at most limit.
func (c *chaosRun) waitRecovered(t *testing.T, healed time.Time, limit time.Duration) time.Time {
	c.ledgerMu.Lock()
	wantP, wantR := 0, 0
	for _, it := range c.ledger.Pictures {
		if it.At.Before(healed.Add(-2 * time.Second)) {
			wantP++
		}
	}
	for _, it := range c.ledger.Readings {
		if it.At.Before(healed) {
			wantR++
		}
	}
	c.ledgerMu.Unlock()
	deadline := healed.Add(limit)
	for time.Now().Before(deadline) {
		if s, ok := c.count(); ok && s.Pictures >= wantP && s.Readings >= wantR {
			return s.At
		}
		time.Sleep(time.Second)
	}
	c.logMissing(t, healed)
	return time.Time{}
}

// logMissing logs, per camera and node, how many of the ledger's items
// written before healed HDFS does not hold yet: which producer's data a
// stalled recovery waits for.
func (c *chaosRun) logMissing(t *testing.T, healed time.Time) {
	defer func() {
		if recover() != nil {
			t.Logf("not recovered; HDFS not readable to say what is missing")
		}
	}()
	got := c.read(&fakeT{}, false)
	stored := map[string]int{} // camera id or node -> pictures/readings stored
	for p := range got.pictures {
		if cam, ok := c.pictureCamera(p); ok {
			stored["camera "+cam]++
		}
	}
	missing := map[string]int{}
	c.ledgerMu.Lock()
	for _, it := range c.ledger.Pictures {
		if it.At.Before(healed.Add(-2 * time.Second)) {
			cam, _, _ := strings.Cut(it.What, "/") // camera1/...
			missing["camera C"+strings.TrimPrefix(cam, "camera")]++
		}
	}
	var readings []string
	for id, it := range c.ledger.Readings {
		if it.At.Before(healed) && got.readings[id] == 0 {
			node, _, _ := strings.Cut(id, "|")
			missing["node "+node]++
			readings = append(readings, id)
		}
	}
	c.ledgerMu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(missing)) {
		n := missing[k]
		if strings.HasPrefix(k, "camera ") {
			n -= stored[k] // pictures stored later count too: a lower bound
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, n))
		}
	}
	slices.Sort(readings)
	t.Logf("not recovered: missing in HDFS, of what was written before healing: %s; readings (first 5): %q",
		strings.Join(parts, ", "), readings[:min(5, len(readings))])
}

// drain waits until every picture file left the camera directories and
// the cloud group committed the end of every cloud partition, and HDFS
// holds at least the ledger's counts or has not changed for 30 s (items
// lost for good: the checker names them).
func (c *chaosRun) drain(t *testing.T, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	var last chaos.Sample
	stableSince := time.Now()
	for {
		c.ledgerMu.Lock()
		wantP, wantR := len(c.ledger.Pictures), len(c.ledger.Readings)
		c.ledgerMu.Unlock()
		s, ok := c.count()
		if s.Pictures != last.Pictures || s.Readings != last.Readings {
			last, stableSince = s, time.Now()
		}
		left := 0
		for _, d := range c.camDirs {
			es, _ := os.ReadDir(d)
			for _, e := range es {
				if !e.IsDir() {
					left++
				}
			}
		}
		settled := ok && left == 0 && c.cloudCommitted(t)
		if settled && s.Pictures >= wantP && s.Readings >= wantR {
			t.Logf("drained after %v", time.Since(c.tl.Start).Round(time.Second))
			return
		}
		if settled && time.Since(stableSince) > 30*time.Second {
			t.Logf("settled after %v with %d of %d pictures, %d of %d readings in HDFS (unchanged for 30 s)",
				time.Since(c.tl.Start).Round(time.Second), s.Pictures, wantP, s.Readings, wantR)
			return
		}
		if time.Now().After(deadline) {
			t.Logf("not drained after %v: %d files in camera dirs, %d of %d pictures, %d of %d readings in HDFS (HDFS readable: %t)",
				timeout, left, s.Pictures, wantP, s.Readings, wantR, ok)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

func (c *chaosRun) observe(t *testing.T) chaos.Observed {
	got := c.read(t, true)
	dead, malformed, problems := c.deadLetters(t)
	o := chaos.Observed{Pictures: got.pictures, Readings: got.readings, Other: got.other, Bundles: got.bundles, Unreadable: got.problems,
		Quarantined: map[string]string{}, DeadLetters: map[string]string{}}
	if c.store == storeAvro && len(got.bundles) == 0 {
		o.Unreadable = append(o.Unreadable, "the bundle store committed no bundle")
	}
	t.Logf("HDFS (%s store): %d pictures (%d committed bundles), %d readings", c.store, len(got.pictures), len(got.bundles), len(got.readings))
	for id, reason := range malformed {
		if strings.HasPrefix(id, "chaos-malformed-") {
			o.DeadLetters[id] = reason
		}
	}
	for i, d := range c.camDirs {
		es, _ := os.ReadDir(filepath.Join(d, ".quarantine"))
		for _, e := range es {
			if !strings.HasSuffix(e.Name(), ".reason") {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(d, ".quarantine", e.Name()))
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				if r, ok := strings.CutPrefix(sc.Text(), "reason: "); ok {
					o.Quarantined[fmt.Sprintf("camera%d/%s", i+1, strings.TrimSuffix(e.Name(), ".reason"))] = r
				}
			}
		}
	}
	if !c.cloudCommitted(t) {
		o.Uncovered = append(o.Uncovered, "after draining, the ingest group's committed offsets are not at the end of every cloud partition")
	}
	o.Uncovered = append(o.Uncovered, problems...)
	o.Uncovered = append(o.Uncovered, c.uncovered(t, got, dead)...)
	for _, p := range append(append(append(append([]*proc{}, c.fwds...), c.ingests...), c.cams...), c.temps...) {
		if p.cmd == nil {
			o.Crashes = append(o.Crashes, p.name+" is not running at the end")
			continue
		}
		select {
		case err := <-p.waitErr:
			p.waitErr <- err
			o.Crashes = append(o.Crashes, fmt.Sprintf("%s exited by itself: %v", p.name, err))
		default:
		}
	}
	return o
}

func (c *chaosRun) writeReport(t *testing.T, duration time.Duration, r chaos.Result) {
	root, _ := devstack.RepoRoot(".")
	commit := "unknown"
	if b, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(b))
	}
	backend := os.Getenv("SENSORNODE_TEST_KAFKA_BACKEND")
	if backend == "" {
		backend = "default (confluent)"
	}
	cmd := os.Getenv("CHAOS_COMMAND")
	if cmd == "" {
		cmd = fmt.Sprintf("CHAOS=1 CHAOS_SEED=%d CHAOS_DURATION=%v CHAOS_FAULTS=%s SENSORNODE_TEST_PICTURE_STORE=%s go test -tags integration -run '^TestChaos$' ./e2e", c.plan.Seed, duration, os.Getenv("CHAOS_FAULTS"), c.store)
	}
	dir := os.Getenv("CHAOS_RESULTS")
	if dir == "" {
		dir = filepath.Join(root, "e2e", "results")
	}
	name := fmt.Sprintf("%s-seed%d-%s", c.tl.Start.UTC().Format("20060102T150405Z"), c.plan.Seed, strings.Fields(backend)[0])
	if c.store != storeFiles {
		name += "-" + c.store
	}
	dir = filepath.Join(dir, name)
	c.sampleMu.Lock()
	defer c.sampleMu.Unlock()
	if err := chaos.Write(dir, chaos.Header{Commit: commit, Command: cmd, Backend: backend, Store: c.store, Duration: duration}, c.tl, r); err != nil {
		t.Errorf("write report: %v", err)
		return
	}
	t.Logf("report: %s/report.md, %s/timeline.svg", dir, dir)
	if !r.OK() {
		// The services' whole logs, for finding out why (not committed:
		// e2e/results/*/logs is ignored).
		logs := filepath.Join(dir, "logs")
		if err := os.MkdirAll(logs, 0o755); err != nil {
			t.Errorf("keep logs: %v", err)
			return
		}
		names, _ := filepath.Glob(filepath.Join(c.logDir, "*.log"))
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil {
				err = os.WriteFile(filepath.Join(logs, filepath.Base(n)), b, 0o644)
			}
			if err != nil {
				t.Errorf("keep logs: %v", err)
			}
		}
		t.Logf("service logs: %s", logs)
	}
}
