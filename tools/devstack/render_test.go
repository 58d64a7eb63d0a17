package devstack

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLayoutPorts(t *testing.T) {
	tests := []struct {
		name string
		give Layout
		proc string
		want map[string]int
	}{
		{"zk-1 default base", NewLayout(29000, 3, 3, true), "zk-1", map[string]int{"client": 29181, "quorum": 29281, "election": 29381}},
		{"zk-5 of five", NewLayout(29000, 5, 3, true), "zk-5", map[string]int{"client": 29185, "quorum": 29285, "election": 29385}},
		{"zk-4 of three", NewLayout(29000, 3, 3, true), "zk-4", nil},
		{"edge-kafka-2", NewLayout(29000, 3, 3, true), "edge-kafka-2", map[string]int{"plaintext": 29012}},
		{"edge-kafka-5 of five", NewLayout(31000, 3, 5, true), "edge-kafka-5", map[string]int{"plaintext": 31015}},
		{"edge-kafka-4 of three", NewLayout(29000, 3, 3, true), "edge-kafka-4", nil},
		{"cloud", NewLayout(29000, 3, 3, true), "cloud-kafka-1", map[string]int{"plaintext": 29021, "sasl_ssl": 29022, "proxied": 29023}},
		{"namenode", NewLayout(29000, 3, 3, true), "hdfs-namenode", map[string]int{"rpc": 29820, "http": 29870}},
		{"datanode", NewLayout(40000, 3, 3, true), "hdfs-datanode", map[string]int{"data": 40866, "ipc": 40867, "http": 40864, "http-internal": 40868}},
		{"namenode without hdfs", NewLayout(29000, 3, 3, false), "hdfs-namenode", nil},
		{"unknown", NewLayout(29000, 3, 3, true), "zk-01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.give.Ports(tt.proc)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Ports(%q) = %v, want %v", tt.proc, got, tt.want)
			}
		})
	}
}

// allPorts lists every port a layout binds or reserves.
func allPorts(l Layout) []int {
	var out []int
	for _, n := range l.Names() {
		for _, p := range l.Ports(n) {
			out = append(out, p)
		}
	}
	return append(out, l.CloudProxy(), l.Base+OffsetNameNodeHTTPS, l.Base+OffsetDataNodeHTTPS)
}

func TestLayoutRange(t *testing.T) {
	tests := []struct {
		name string
		give Layout
	}{
		{"small", NewLayout(29000, 3, 3, true)},
		{"large", NewLayout(29000, 5, 5, true)},
		{"no hdfs", NewLayout(1024, 3, 5, false)},
		{"top", NewLayout(65535-PortSpan+1, 5, 5, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := allPorts(tt.give)
			seen := map[int]bool{}
			for _, p := range ports {
				if p < tt.give.Base || p >= tt.give.Base+FreePortOffset {
					t.Errorf("port %d outside [%d, %d)", p, tt.give.Base, tt.give.Base+FreePortOffset)
				}
				if p > 65535 {
					t.Errorf("port %d > 65535", p)
				}
				if seen[p] {
					t.Errorf("port %d used twice", p)
				}
				seen[p] = true
			}
		})
	}
	// Two stacks 1000 apart never share a port.
	a, b := allPorts(NewLayout(29000, 5, 5, true)), allPorts(NewLayout(30000, 5, 5, true))
	for _, p := range a {
		if slices.Contains(b, p) {
			t.Errorf("stacks at 29000 and 30000 share port %d", p)
		}
	}
}

func TestLayoutNames(t *testing.T) {
	got := NewLayout(29000, 3, 3, true).Names()
	want := []string{"zk-1", "zk-2", "zk-3", "edge-kafka-1", "edge-kafka-2", "edge-kafka-3", "cloud-kafka-1", "hdfs-namenode", "hdfs-datanode"}
	if !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	got = NewLayout(29000, 5, 5, false).Names()
	if len(got) != 11 || slices.Contains(got, NameNodeName) {
		t.Errorf("Names() of 5+5 without HDFS = %v, want 11 names without hdfs", got)
	}
}

func TestLayoutConnectStrings(t *testing.T) {
	l := NewLayout(29000, 3, 3, true)
	if got, want := l.ZooKeeperConnect(EdgeChroot), "127.0.0.1:29181,127.0.0.1:29182,127.0.0.1:29183/edge"; got != want {
		t.Errorf("ZooKeeperConnect(/edge) = %q, want %q", got, want)
	}
	if got, want := l.EdgeBootstrap(), "127.0.0.1:29011,127.0.0.1:29012,127.0.0.1:29013"; got != want {
		t.Errorf("EdgeBootstrap() = %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		give    Config
		wantErr string
	}{
		{"defaults", Config{Dir: "/tmp/x"}, ""},
		{"five and five", Config{Dir: "/tmp/x", ZooKeepers: 5, EdgeBrokers: 5}, ""},
		{"no dir", Config{}, "dir is required"},
		{"four zookeepers", Config{Dir: "/x", ZooKeepers: 4}, "zookeepers = 4"},
		{"one broker", Config{Dir: "/x", EdgeBrokers: 1}, "edge brokers = 1"},
		{"low port base", Config{Dir: "/x", PortBase: 80}, "port base = 80"},
		{"high port base", Config{Dir: "/x", PortBase: 65000}, "port base = 65000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.give.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Dir: "rel"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.PortBase != DefaultPortBase || c.ZooKeepers != 3 || c.EdgeBrokers != 3 || c.Java != "java" || c.Maven != "mvn" {
		t.Errorf("withDefaults() = %+v, want port base %d, 3, 3, java, mvn", c, DefaultPortBase)
	}
	if !filepath.IsAbs(c.Dir) || !filepath.IsAbs(c.CacheDir) {
		t.Errorf("withDefaults() dirs %q, %q, want absolute", c.Dir, c.CacheDir)
	}
	if !strings.HasSuffix(c.CacheDir, filepath.Join("sensornode", "devstack")) {
		t.Errorf("CacheDir = %q, want .../sensornode/devstack", c.CacheDir)
	}
}

// parseProperties reads key=value lines.
func parseProperties(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("malformed line %q", line)
		}
		if _, dup := out[k]; dup {
			t.Errorf("key %s set twice", k)
		}
		out[k] = v
	}
	return out
}

func checkProps(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestZooCfg(t *testing.T) {
	tests := []struct {
		name    string
		zks, id int
		want    map[string]string
	}{
		{"zk-2 of 3", 3, 2, map[string]string{
			"tickTime": "3000", "initLimit": "10", "syncLimit": "5",
			"clientPort": "29182", "clientPortAddress": "127.0.0.1", "dataDir": "/d/zk-2/data",
			"4lw.commands.whitelist": "*", "admin.enableServer": "false",
			"server.1": "127.0.0.1:29281:29381", "server.3": "127.0.0.1:29283:29383",
		}},
		{"zk-5 of 5", 5, 5, map[string]string{"clientPort": "29185", "server.5": "127.0.0.1:29285:29385"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseProperties(t, zooCfg(NewLayout(29000, tt.zks, 3, true), tt.id, "/d/zk-"+fmt.Sprint(tt.id)+"/data"))
			checkProps(t, got, tt.want)
			servers := 0
			for k := range got {
				if strings.HasPrefix(k, "server.") {
					servers++
				}
			}
			if servers != tt.zks {
				t.Errorf("%d server.N lines, want %d", servers, tt.zks)
			}
		})
	}
}

func TestEdgeKafkaProperties(t *testing.T) {
	got := parseProperties(t, edgeKafkaProperties(NewLayout(29000, 5, 5, true), 4, "/d/edge-kafka-4/data"))
	checkProps(t, got, map[string]string{
		"broker.id":                                "4",
		"listeners":                                "PLAINTEXT://127.0.0.1:29014",
		"advertised.listeners":                     "PLAINTEXT://127.0.0.1:29014",
		"zookeeper.connect":                        "127.0.0.1:29181,127.0.0.1:29182,127.0.0.1:29183,127.0.0.1:29184,127.0.0.1:29185/edge",
		"log.dirs":                                 "/d/edge-kafka-4/data",
		"default.replication.factor":               "3",
		"min.insync.replicas":                      "2",
		"unclean.leader.election.enable":           "false",
		"offsets.topic.replication.factor":         "3",
		"transaction.state.log.replication.factor": "3",
		"transaction.state.log.min.isr":            "2",
		"auto.create.topics.enable":                "false",
		"message.max.bytes":                        "8388608",
		"replica.fetch.max.bytes":                  "8388608",
		"group.initial.rebalance.delay.ms":         "0",
	})
	if s, ok := got["zookeeper.session.timeout.ms"]; !ok || s < "6000" {
		t.Errorf("zookeeper.session.timeout.ms = %q, want at least 2*tickTime", s)
	}
}

func TestCloudKafkaProperties(t *testing.T) {
	tls := tlsPaths{CACert: "/d/tls/ca.pem", Keystore: "/d/tls/server-keystore.pem"}
	got := parseProperties(t, cloudKafkaProperties(NewLayout(29000, 3, 3, true), "/d/cloud-kafka-1/data", tls))
	checkProps(t, got, map[string]string{
		"broker.id":                        "1",
		"listeners":                        "PLAINTEXT://127.0.0.1:29021,SASL_SSL://127.0.0.1:29022,PROXIED://127.0.0.1:29023",
		"advertised.listeners":             "PLAINTEXT://127.0.0.1:29021,SASL_SSL://127.0.0.1:29022,PROXIED://127.0.0.1:29024",
		"inter.broker.listener.name":       "PLAINTEXT",
		"sasl.enabled.mechanisms":          "SCRAM-SHA-512",
		"ssl.keystore.type":                "PEM",
		"ssl.keystore.location":            "/d/tls/server-keystore.pem",
		"ssl.truststore.type":              "PEM",
		"ssl.truststore.location":          "/d/tls/ca.pem",
		"zookeeper.connect":                "127.0.0.1:29181,127.0.0.1:29182,127.0.0.1:29183/cloud",
		"offsets.topic.replication.factor": "1",
		"transaction.state.log.min.isr":    "1",
		"default.replication.factor":       "1",
		"auto.create.topics.enable":        "false",
		"message.max.bytes":                "8388608",
		"authorizer.class.name":            "kafka.security.authorizer.AclAuthorizer",
		"super.users":                      "User:ANONYMOUS",
		"allow.everyone.if.no.acl.found":   "true",
	})
	if !strings.Contains(got["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"], "ScramLoginModule required;") {
		t.Errorf("jaas config = %q, want the ScramLoginModule", got["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"])
	}
	if _, ok := got["ssl.key.password"]; ok {
		t.Errorf("ssl.key.password set; the PEM key is unencrypted")
	}
}

func TestHadoopSite(t *testing.T) {
	in := renderInput{Dir: "/d", Layout: NewLayout(29000, 3, 3, true)}
	parse := func(s string) map[string]string {
		var doc struct {
			Props []struct {
				Name  string `xml:"name"`
				Value string `xml:"value"`
			} `xml:"property"`
		}
		if err := xml.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatalf("xml: %v", err)
		}
		out := map[string]string{}
		for _, p := range doc.Props {
			out[p.Name] = p.Value
		}
		return out
	}
	checkProps(t, parse(hadoopXML(in.coreSite())), map[string]string{"fs.defaultFS": "hdfs://127.0.0.1:29820"})
	hdfs := parse(hadoopXML(in.hdfsSite()))
	checkProps(t, hdfs, map[string]string{
		"dfs.replication":                       "1",
		"dfs.namenode.rpc-address":              "127.0.0.1:29820",
		"dfs.namenode.http-address":             "127.0.0.1:29870",
		"dfs.datanode.address":                  "127.0.0.1:29866",
		"dfs.datanode.ipc.address":              "127.0.0.1:29867",
		"dfs.datanode.http.address":             "127.0.0.1:29864",
		"dfs.datanode.hostname":                 "127.0.0.1",
		"dfs.namenode.safemode.extension":       "0",
		"dfs.namenode.name.dir":                 "file:///d/hdfs-namenode/data",
		"dfs.datanode.data.dir":                 "file:///d/hdfs-datanode/data",
		"dfs.datanode.http.internal-proxy.port": "29868",
		"dfs.datanode.synconclose":              "true",
	})
	for k, v := range hdfs {
		if strings.Contains(v, "0.0.0.0") {
			t.Errorf("%s = %s binds all interfaces", k, v)
		}
	}
}

func TestRenderCommandLines(t *testing.T) {
	in := renderInput{
		Dir: "/d", Layout: NewLayout(29000, 3, 3, true), Java: "/usr/bin/java",
		KafkaClasspath: "/k.jar", HadoopClasspath: "/h.jar", TLS: newTLSPaths("/d"),
	}
	specs := render(in)
	if len(specs) != 9 {
		t.Fatalf("render() = %d specs, want 9", len(specs))
	}
	wantHeap := map[Kind]string{
		KindZooKeeper: "-Xmx128m", KindEdgeKafka: "-Xmx384m", KindCloudKafka: "-Xmx512m",
		KindNameNode: "-Xmx384m", KindDataNode: "-Xmx256m",
	}
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			if s.Args[0] != "/usr/bin/java" {
				t.Errorf("Args[0] = %q, want java", s.Args[0])
			}
			for _, want := range []string{wantHeap[s.Kind], "-XX:+UseG1GC", marker("/d", s.Name), mainClass[s.Kind]} {
				if !slices.Contains(s.Args, want) {
					t.Errorf("Args lack %q: %v", want, s.Args)
				}
			}
			i := slices.Index(s.Args, "-cp")
			if i < 0 {
				t.Fatalf("no -cp in %v", s.Args)
			}
			cp := s.Args[i+1]
			switch s.Kind {
			case KindNameNode, KindDataNode:
				if !strings.HasSuffix(cp, ":/h.jar") || !strings.HasPrefix(cp, "/d/hdfs/conf:") {
					t.Errorf("classpath %q, want the conf dir, then hadoop", cp)
				}
			default:
				if cp != "/k.jar" {
					t.Errorf("classpath %q, want the kafka classpath", cp)
				}
			}
			if s.Log != "/d/logs/"+s.Name+".log" {
				t.Errorf("Log = %q", s.Log)
			}
		})
	}
}

func TestGenerateTLS(t *testing.T) {
	now := time.Now()
	ca, _, ks, err := generateTLS(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyServerPEM(ca, ks, now); err != nil {
		t.Errorf("verifyServerPEM(own CA) = %v, want nil", err)
	}
	if err := verifyServerPEM(ca, ks, now.Add(20*365*24*time.Hour)); err == nil {
		t.Errorf("verifyServerPEM in 20 years = nil, want expired")
	}
	otherCA, _, _, err := generateTLS(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyServerPEM(otherCA, ks, now); err == nil {
		t.Errorf("verifyServerPEM(other CA) = nil, want an error")
	}
	// Kafka's PEM keystore wants the key first, as unencrypted PKCS#8.
	if !strings.HasPrefix(string(ks), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("keystore starts %q, want a PRIVATE KEY block", string(ks)[:30])
	}
}

func TestEnsureTLSKeepsValidMaterial(t *testing.T) {
	p := newTLSPaths(t.TempDir())
	if err := ensureTLS(p, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, p.CACert)
	if err := ensureTLS(p, time.Now()); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p.CACert) != first {
		t.Errorf("ensureTLS replaced a valid CA")
	}
	// Nine and a half years on, less than a year is left: renew.
	if err := ensureTLS(p, time.Now().Add(9*365*24*time.Hour+180*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p.CACert) == first {
		t.Errorf("ensureTLS kept a CA about to expire")
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		wantState byte
		wantStart uint64
		wantErr   bool
	}{
		{"java", "1234 (java) S 1 1234 1234 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 40 0 987654 100 200", 'S', 987654, false},
		{"name with spaces and parens", "77 (a (b) c) T 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 1 2", 'T', 42, false},
		{"zombie", "9 (java) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", 'Z', 5, false},
		{"truncated", "9 (java) S 1 9", 0, 0, true},
		{"no parens", "garbage", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.give))
			if (err != nil) != tt.wantErr || got.State != tt.wantState || got.StartTime != tt.wantStart {
				t.Errorf("parseProcStat() = %+v, %v, want state %c start %d error %t", got, err, tt.wantState, tt.wantStart, tt.wantErr)
			}
		})
	}
}
