package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestUsageIn(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	sr := Series{Name: "camera-producer-1", Service: "camera-producer", Points: []Point{
		{PID: 10, At: at(0), CPU: 1 * time.Second, RSSBytes: 10, HWMBytes: 10},
		{PID: 10, At: at(1), CPU: 1500 * time.Millisecond, RSSBytes: 20, HWMBytes: 25},
		{PID: 10, At: at(2), CPU: 2 * time.Second, RSSBytes: 30, HWMBytes: 40},
		{PID: 11, At: at(3), CPU: 250 * time.Millisecond, RSSBytes: 5, HWMBytes: 8}, // restarted
		{PID: 11, At: at(4), CPU: 750 * time.Millisecond, RSSBytes: 15, HWMBytes: 17},
	}}
	tests := []struct {
		name     string
		from, to time.Time
		want     Usage
	}{
		{"whole", at(0), at(4), Usage{Samples: 5, CPUCore: 1.75 / 4, RSSMean: 16, RSSMax: 30, HWM: 17}},
		{"first part", at(0), at(2), Usage{Samples: 3, CPUCore: 0.5, RSSMean: 20, RSSMax: 30, HWM: 40}},
		{"one sample: HWM of the next point of the same process", at(1), at(1), Usage{Samples: 1, CPUCore: math.NaN(), RSSMean: 20, RSSMax: 20, HWM: 40}},
		{"none", at(10), at(20), Usage{Samples: 0, CPUCore: math.NaN(), RSSMean: math.NaN()}},
	}
	eq := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 || math.IsNaN(a) && math.IsNaN(b) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UsageIn(sr, tt.from, tt.to)
			if got.Samples != tt.want.Samples || !eq(got.CPUCore, tt.want.CPUCore) || !eq(got.RSSMean, tt.want.RSSMean) || got.RSSMax != tt.want.RSSMax || got.HWM != tt.want.HWM {
				t.Errorf("UsageIn() = %+v, want %+v", got, tt.want)
			}
			if got.Service != "camera-producer" {
				t.Errorf("UsageIn().Service = %q", got.Service)
			}
		})
	}
}

func TestByService(t *testing.T) {
	got := ByService([]Usage{
		{Name: "camera-producer-1", Service: "camera-producer", Samples: 3, CPUCore: 0.2, RSSMean: 10, RSSMax: 12},
		{Name: "camera-producer-2", Service: "camera-producer", Samples: 3, CPUCore: 0.4, RSSMean: 20, RSSMax: 25},
		{Name: "edge-forwarder", Service: "edge-forwarder", Samples: 1, CPUCore: math.NaN(), RSSMean: 40, RSSMax: 40},
		{Name: "gone", Service: "x", Samples: 0},
	})
	if len(got) != 2 {
		t.Fatalf("ByService() = %+v, want 2 services", got)
	}
	cp, fw := got[0], got[1]
	if cp.Service != "camera-producer" || cp.Instances != 2 || math.Abs(cp.CPUCore-0.3) > 1e-9 || cp.RSSMean != 15 || cp.RSSMax != 25 {
		t.Errorf("camera-producer = %+v", cp)
	}
	if fw.Service != "edge-forwarder" || !math.IsNaN(fw.CPUCore) || fw.RSSMax != 40 {
		t.Errorf("edge-forwarder = %+v", fw)
	}
}

func TestProcStopAndCrash(t *testing.T) {
	dir := t.TempDir()
	s := NewSampler(50 * time.Millisecond)
	g := NewGroup(s)
	sleeper, err := g.Start(Spec{Name: "sleeper", Service: "sleep", Path: "/bin/sleep", Args: []string{"30"}, Log: filepath.Join(dir, "sleeper.log")})
	if err != nil {
		t.Fatal(err)
	}
	crasher, err := g.Start(Spec{Name: "crasher", Service: "sh", Path: "/bin/sh", Args: []string{"-c", "echo boom; exit 3"}, Log: filepath.Join(dir, "crasher.log")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-g.Crashes():
		if p != crasher {
			t.Errorf("crash reported for %s, want crasher", p.Spec.Name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no crash reported")
	}
	if ee := crasher.ExitErr(); ee == nil || !strings.Contains(ee.Error(), "exit status 3") {
		t.Errorf("crasher ExitErr() = %v, want exit status 3", ee)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "crasher.log")); string(b) != "boom\n" {
		t.Errorf("crasher log = %q, want boom", b)
	}
	s.SampleAll()
	if err := g.StopAll(5 * time.Second); err != nil {
		t.Errorf("StopAll() = %v, want nil (sleep dies of SIGTERM)", err)
	}
	if sleeper.Running() || sleeper.Crashed() {
		t.Errorf("sleeper running %v crashed %v after stop", sleeper.Running(), sleeper.Crashed())
	}
	if got := g.Crashed(); len(got) != 1 || got[0] != crasher {
		t.Errorf("Crashed() = %v, want [crasher]", got)
	}
	var sleeperSeries *Series
	for _, sr := range s.Snapshot() {
		if sr.Name == "sleeper" {
			sleeperSeries = &sr
		}
	}
	if sleeperSeries == nil || len(sleeperSeries.Points) == 0 || sleeperSeries.Points[0].RSSBytes <= 0 {
		t.Errorf("sleeper series = %+v, want samples with RSS", sleeperSeries)
	}
}

func TestProcStopKillsStubbornProcess(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "s.log")
	p, err := Start(Spec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); logSince(log, 0) == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // until the shell has installed its trap
	}
	if err := p.Stop(500 * time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Errorf("Stop() = %v, want ErrKilled", err)
	}
	if p.Running() {
		t.Error("still running after Stop")
	}
}

func TestWaitReadyFailsWhenProcessExits(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Spec{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "exit 1"}, Log: filepath.Join(dir, "q.log"), AdminAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err == nil || !strings.Contains(err.Error(), "exited before ready") {
		t.Errorf("WaitReady() = %v, want exited before ready", err)
	}
}

func TestPictureKeyFromPath(t *testing.T) {
	tests := []struct {
		give   string
		want   string
		wantOK bool
	}{
		{"/lt/camera/C1/C1-20260127T113315.123Z-0123456789abcdef.jpg", "C1-20260127T113315.123Z-0123456789abcdef", true},
		{"/sensornode/camera/C3/2026/01/27/113315-C3-20260127T113315.123Z-0123456789abcdef.jpg", "C3-20260127T113315.123Z-0123456789abcdef", true},
		{"/x/cam-a-b/cam-a-b-20260127T113315.000Z-0123456789abcdef.jpg", "cam-a-b-20260127T113315.000Z-0123456789abcdef", true},
		{"/x/C1/readme.txt", "", false},
		{"/x/C1/garbage.jpg", "", false},
		{"/x/_tmp/C1-20260127T113315.123Z-0123456789abcdef.jpg.tmp", "", false},
	}
	for _, tt := range tests {
		got, ok := PictureKeyFromPath(tt.give)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("PictureKeyFromPath(%q) = %q, %v, want %q, %v", tt.give, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestKafkaEnvAndJavaProps(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := bus.Config{Brokers: []string{"127.0.0.1:1", "127.0.0.1:2"},
		TLS:  bus.TLSConfig{Enabled: true, CAFile: "/ca.pem"},
		SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pw}}
	env := strings.Join(KafkaEnv("CLOUD_KAFKA", c, "franz"), "\n")
	for _, want := range []string{
		"SENSORNODE_CLOUD_KAFKA_BROKERS=127.0.0.1:1,127.0.0.1:2", "SENSORNODE_CLOUD_KAFKA_BACKEND=franz",
		"SENSORNODE_CLOUD_KAFKA_TLS_ENABLED=true", "SENSORNODE_CLOUD_KAFKA_TLS_CA_FILE=/ca.pem",
		"SENSORNODE_CLOUD_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD_FILE=" + pw,
	} {
		if !strings.Contains(env, want) {
			t.Errorf("KafkaEnv() lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "s3cret") {
		t.Error("KafkaEnv() leaks the password from the file")
	}
	props, err := JavaClientProps(c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bootstrap.servers": "127.0.0.1:1,127.0.0.1:2", "security.protocol": "SASL_SSL",
		"ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="s3cret";`,
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("JavaClientProps()[%s] = %q, want %q", k, props[k], v)
		}
	}
	plain, err := JavaClientProps(bus.Config{Brokers: []string{"h:1"}})
	if err != nil || plain["security.protocol"] != "PLAINTEXT" || len(plain) != 2 {
		t.Errorf("JavaClientProps(plain) = %v, %v", plain, err)
	}
}

func TestDeploymentSpecs(t *testing.T) {
	d := &Deployment{
		Cluster: Cluster{Edge: bus.Config{Brokers: []string{"e:1"}}, Cloud: bus.Config{Brokers: []string{"c:1"}},
			NameNodes: []string{"nn:8020"}, HDFSUser: "sn", FreePortBase: 29900, EdgeRF: 3, EdgeMinISR: 2, CloudRF: 1, CloudMinISR: 1},
		Bins:    Binaries{CameraProducer: "/b/cp", EdgeForwarder: "/b/fw", CloudIngest: "/b/in", TempProducer: "/b/tp"},
		Backend: "franz", Form: "binary", Nodes: 5, Prefix: "lt-1-", HDFSRoot: "/lt/1", FlatPictures: true,
		WorkDir: "/w", LogDir: "/w/logs", Camera: Camera{Source: "directory"},
		TempInterval: time.Second, TemperatureRotate: 5 * time.Second,
		PortFree: func(int) bool { return true }, // the addresses below, even when a load test holds them
	}
	env := func(s Spec) string { return strings.Join(s.Env, "\n") }
	cp := d.CameraProducerSpec(3, "")
	for _, want := range []string{"SENSORNODE_TOPIC=lt-1-node3", "SENSORNODE_CAMERA_ID=C3", "SENSORNODE_DIR=/w/node3/camera",
		"SENSORNODE_KAFKA_BACKEND=franz", "SENSORNODE_ADMIN_ADDR=127.0.0.1:29903", "SENSORNODE_KAFKA_BROKERS=e:1"} {
		if !strings.Contains(env(cp), want) {
			t.Errorf("camera producer env lacks %q", want)
		}
	}
	if cp.Name != "camera-producer-3" || cp.Log != "/w/logs/camera-producer-3.log" || cp.Path != "/b/cp" {
		t.Errorf("camera producer spec = %+v", cp)
	}
	if strings.Contains(env(cp), "PPROF") {
		t.Errorf("camera producer env has pprof without Pprof:\n%s", env(cp))
	}
	d.Pprof = true
	for _, s := range []Spec{d.CameraProducerSpec(1, ""), d.TempProducerSpec(1), d.ForwarderSpec(), d.IngestSpec()} {
		if !strings.Contains(env(s), "SENSORNODE_ADMIN_PPROF_ENABLED=true") {
			t.Errorf("%s env with Pprof lacks SENSORNODE_ADMIN_PPROF_ENABLED=true", s.Name)
		}
	}
	d.Pprof = false
	fw := d.ForwarderSpec()
	if !strings.Contains(env(fw), `SENSORNODE_PICTURE_TOPICS=^lt-1-node[0-9]+$`) ||
		!strings.Contains(env(fw), "SENSORNODE_CLOUD_PICTURE_TOPIC=lt-1-cameraData") ||
		!strings.Contains(env(fw), "SENSORNODE_EDGE_KAFKA_GROUP_ID=lt-1-edge-forwarder") {
		t.Errorf("forwarder env:\n%s", env(fw))
	}
	in := d.IngestSpec()
	if !strings.Contains(env(in), "SENSORNODE_PICTURE_LAYOUT=/lt/1/camera/{camera}/{key}.jpg") ||
		!strings.Contains(env(in), "SENSORNODE_CLOUD_KAFKA_TOPICS=lt-1-cameraData,lt-1-temperatureData") {
		t.Errorf("ingest env:\n%s", env(in))
	}
	if strings.Contains(env(in), "SENSORNODE_PICTURE_STORE") || strings.Contains(env(in), "SENSORNODE_PICTURE_BUNDLE_MAX_AGE") {
		t.Errorf("ingest env without a store sets one:\n%s", env(in))
	}
	d.PictureStore, d.BundleMaxAge, d.BundleMaxBytes = "avro", 2*time.Second, 8<<20
	in = d.IngestSpec()
	for _, want := range []string{"SENSORNODE_PICTURE_STORE=avro", "SENSORNODE_PICTURE_BUNDLE_DIR=/lt/1/bundles", "SENSORNODE_PICTURE_BUNDLE_MAX_AGE=2s",
		"SENSORNODE_PICTURE_BUNDLE_MAX_BYTES=8388608"} {
		if !strings.Contains(env(in), want) {
			t.Errorf("avro ingest env lacks %q:\n%s", want, env(in))
		}
	}
	// Producers of a fleet beyond the 20 reserved ports get distinct ports of their own.
	if a, b := d.CameraProducerSpec(25, "").AdminAddr, d.TempProducerSpec(25).AdminAddr; a == b || strings.HasSuffix(a, ":29925") || strings.HasSuffix(b, ":29945") {
		t.Errorf("admin addresses of node 25: camera %s, temp %s", a, b)
	}
	vw := d.ViewerSpec(ViewerConfig{Addr: "127.0.0.1:8090", UsersFile: "/w/viewer/users", ThumbDir: "/w/viewer/thumbs",
		MetricsTargets: []string{"127.0.0.1:1", "127.0.0.1:2"}})
	for _, want := range []string{"SENSORNODE_PICTURE_LAYOUT=/lt/1/camera/{camera}/{key}.jpg", // what the ingest writes
		"SENSORNODE_VIEWER_ADDR=127.0.0.1:8090", "SENSORNODE_VIEWER_USERS_FILE=/w/viewer/users",
		"SENSORNODE_VIEWER_METRICS_TARGETS=127.0.0.1:1,127.0.0.1:2", "SENSORNODE_HDFS_USER="} {
		if !strings.Contains(env(vw), want) {
			t.Errorf("viewer env lacks %q:\n%s", want, env(vw))
		}
	}
	if vw.Service != Viewer || strings.Contains(env(vw), "SENSORNODE_ZOOKEEPER_SERVERS") {
		t.Errorf("viewer spec = %+v", vw)
	}
	re := regexp.MustCompile(d.NodeTopicPattern())
	for topic, want := range map[string]bool{"lt-1-node1": true, "lt-1-node12": true, "lt-1-drain640x480": false, "lt-1-temperatureLocal": false, "node1": false, "lt-2-node1": false} {
		if re.MatchString(topic) != want {
			t.Errorf("NodeTopicPattern matches %q = %v, want %v", topic, !want, want)
		}
	}
	ex := d.ExtraForwarderSpec("edge-forwarder-drain", "g", "lt-1-drain", "lt-1-drain-cameraData", "lt-1-drain-temp")
	if ex.Service != EdgeForwarder || !strings.Contains(env(ex), "SENSORNODE_PICTURE_TOPICS=lt-1-drain\n") ||
		!strings.Contains(env(ex), "SENSORNODE_CLOUD_PICTURE_TOPIC=lt-1-drain-cameraData") || !strings.Contains(env(ex), "SENSORNODE_ADMIN_ADDR=127.0.0.1:29943") {
		t.Errorf("extra forwarder env:\n%s", env(ex))
	}
	specs := d.EdgeTopicSpecs(map[string]string{"message.timestamp.type": "LogAppendTime"})
	if len(specs) != 6 || specs[0].ReplicationFactor != 3 || specs[0].Config["min.insync.replicas"] != "2" || specs[5].Name != "lt-1-temperatureLocal" {
		t.Errorf("EdgeTopicSpecs() = %+v", specs)
	}
	cs := d.CloudTopicSpecs(nil, 1)
	if len(cs) != 4 || cs[1].Name != "lt-1-cameraData-dlq" {
		t.Errorf("CloudTopicSpecs() = %+v", cs)
	}
}

// TestHelperService is not a test: StartReady's test runs the test binary
// as a fake service. It serves /readyz on SENSORNODE_ADMIN_ADDR, or fails
// like a service whose port is taken when that is FAKE_TAKEN_ADDR.
func TestHelperService(t *testing.T) {
	addr := os.Getenv("SENSORNODE_ADMIN_ADDR")
	if os.Getenv("FAKE_SERVICE") != "1" {
		t.Skip("helper process")
	}
	if addr == os.Getenv("FAKE_TAKEN_ADDR") {
		fmt.Fprintf(os.Stderr, "fake: admin listen %s: listen tcp %s: bind: address already in use\n", addr, addr)
		os.Exit(1)
	}
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: time.Second}
	go func() { time.Sleep(20 * time.Second); os.Exit(0) }()
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func TestStartReadyRetriesOnPortClash(t *testing.T) {
	taken, spare := svctest.FreeAddr(t), svctest.FreeAddr(t)
	dir := t.TempDir()
	g := NewGroup(nil)
	spec := Spec{Name: "fake", Service: "fake", Path: os.Args[0], Args: []string{"-test.run=^TestHelperService$"},
		Env: []string{"FAKE_SERVICE=1", "FAKE_TAKEN_ADDR=" + taken, "SENSORNODE_ADMIN_ADDR=" + taken},
		Log: filepath.Join(dir, "fake.log"), AdminAddr: taken}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := 0
	p, err := StartReady(ctx, g, spec, func() string { calls++; return spare })
	if err != nil {
		t.Fatalf("StartReady() error = %v\nlog:\n%s", err, logSince(spec.Log, 0))
	}
	if p.Spec.AdminAddr != spare || calls != 1 {
		t.Errorf("ready on %s after %d spare calls, want %s after 1", p.Spec.AdminAddr, calls, spare)
	}
	if got := g.Crashed(); len(got) != 0 {
		t.Errorf("Crashed() = %d processes, want none (the clash was retried)", len(got))
	}
	if err := g.StopAll(5 * time.Second); err != nil {
		t.Errorf("StopAll() = %v", err)
	}

	// Any other early exit is returned, not retried.
	spec.Env = []string{"FAKE_SERVICE=0", "SENSORNODE_ADMIN_ADDR=" + spare}
	spec.AdminAddr = spare
	calls = 0
	if _, err := StartReady(ctx, g, spec, func() string { calls++; return spare }); err == nil || calls != 0 {
		t.Errorf("StartReady(exits at once) = %v after %d spare calls, want an error and no retry", err, calls)
	}
}

// TestAdminSparesDiffer: when the preferred admin ports of several services
// are all taken and their own spares are free, each gets its own spare (all
// specs are made before any process binds its port, so handing out the same
// first free spare to every one made two services share one admin address,
// and one of them looked ready on the other's /readyz, then crashed).
func TestAdminSparesDiffer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		taken func(port int) bool
	}{
		{"preferred ports taken", func(p int) bool { return p < 29950 }},
		{"preferred ports and another offset's spare taken", func(p int) bool { return p < 29950 || p == 29960 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployment{Cluster: Cluster{FreePortBase: 29900}, Nodes: 5, PortFree: func(p int) bool { return !tc.taken(p) }}
			seen := map[string]string{}
			for _, s := range []Spec{d.CameraProducerSpec(1, ""), d.CameraProducerSpec(2, ""), d.TempProducerSpec(1),
				d.ForwarderSpec(), d.IngestSpec(), d.ViewerSpec(ViewerConfig{})} {
				port, _ := strconv.Atoi(s.AdminAddr[strings.LastIndex(s.AdminAddr, ":")+1:])
				if tc.taken(port) || port >= 30000 {
					t.Errorf("%s: admin %s is taken or outside the spares", s.Name, s.AdminAddr)
				}
				if other, ok := seen[s.AdminAddr]; ok {
					t.Errorf("%s and %s share the admin address %s", other, s.Name, s.AdminAddr)
				}
				seen[s.AdminAddr] = s.Name
			}
		})
	}
}
