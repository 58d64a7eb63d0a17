package devstack

import (
	"fmt"
	"html"
	"path/filepath"
	"strconv"
	"strings"
)

// Settings that are not part of Config: the stack is for tests and local
// runs, not for tuning.
const (
	// MaxMessageBytes is message.max.bytes and replica.fetch.max.bytes of
	// both clusters: a 1920x1080 JPEG as base64 JSON fits many times over.
	MaxMessageBytes = 8 << 20
	// brokerSessionTimeoutMS is the brokers' ZooKeeper session timeout. A
	// SIGKILLed broker's registration lingers this long, so it bounds how
	// fast leaders move and how soon the broker can register again. It must
	// be at least 2*tickTime (6 s).
	brokerSessionTimeoutMS = 9000
	zkTickTimeMS           = 3000
)

// Heap sizes (-Xmx) by kind; the whole stack fits a 2-core machine.
var heapMB = map[Kind]int{
	KindZooKeeper:  128,
	KindEdgeKafka:  384,
	KindCloudKafka: 512,
	KindNameNode:   384,
	KindDataNode:   256,
}

// Main classes by kind.
var mainClass = map[Kind]string{
	KindZooKeeper:  "org.apache.zookeeper.server.quorum.QuorumPeerMain",
	KindEdgeKafka:  "kafka.Kafka",
	KindCloudKafka: "kafka.Kafka",
	KindNameNode:   "org.apache.hadoop.hdfs.server.namenode.NameNode",
	KindDataNode:   "org.apache.hadoop.hdfs.server.datanode.DataNode",
}

// markerProperty is a JVM system property on every command line of the
// stack; its value is Dir + "#" + name. It tells a live process of the stack
// from an unrelated process that got the same pid.
const markerProperty = "-Dsensornode.devstack="

func marker(dir, name string) string { return markerProperty + dir + "#" + name }

// file is a file to write before a process starts.
type file struct {
	Path    string
	Content string
	Mode    uint32
}

// procSpec is how to run one process of the stack.
type procSpec struct {
	Name    string
	Kind    Kind
	Index   int
	Args    []string // Args[0] is the java binary
	Env     []string
	WorkDir string
	DataDir string
	Ports   map[string]int
	Log     string
	Files   []file
}

// renderInput is everything rendering depends on; rendering itself does no
// I/O, so it is unit tested.
type renderInput struct {
	Dir             string
	Layout          Layout
	Java            string
	KafkaClasspath  string
	HadoopClasspath string
	Env             []string
	TLS             tlsPaths
}

// tlsPaths are the PEM files of the cloud broker's SASL_SSL listener.
type tlsPaths struct {
	CACert   string // CA certificate: truststore of clients and broker
	CAKey    string
	Keystore string // server private key (PKCS#8) + certificate chain
}

func newTLSPaths(dir string) tlsPaths {
	d := filepath.Join(dir, "tls")
	return tlsPaths{
		CACert:   filepath.Join(d, "ca.pem"),
		CAKey:    filepath.Join(d, "ca-key.pem"),
		Keystore: filepath.Join(d, "server-keystore.pem"),
	}
}

func log4jPath(dir string) string     { return filepath.Join(dir, "conf", "log4j.properties") }
func hadoopConfDir(dir string) string { return filepath.Join(dir, "hdfs", "conf") }

// hadoopWebDir is a classpath entry holding webapps/NAME: Hadoop's HTTP
// servers look for them on the classpath, and the Maven jars do not ship
// them (the binary distribution does). Empty apps are enough for /jmx,
// /conf, /stacks and WebHDFS; there is no web UI.
func hadoopWebDir(dir string) string { return filepath.Join(dir, "hdfs", "web") }

// hadoopWebApps are the web apps the NameNode and DataNode look up.
var hadoopWebApps = []string{"hdfs", "datanode"}

const emptyWebXML = `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1"/>
`

func logPath(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

// render returns the specs of every process of the stack in start order.
func render(in renderInput) []procSpec {
	l := in.Layout
	var specs []procSpec
	for i := 1; i <= l.ZooKeepers; i++ {
		specs = append(specs, in.zooKeeper(i))
	}
	for i := 1; i <= l.EdgeBrokers; i++ {
		specs = append(specs, in.edgeKafka(i))
	}
	specs = append(specs, in.cloudKafka())
	if l.HDFS {
		specs = append(specs, in.nameNode(), in.dataNode())
	}
	return specs
}

func toolsLog4jPath(dir string) string { return filepath.Join(dir, "conf", "tools-log4j.properties") }

// toolsLog4jProperties is for command line tools (KafkaTool): warnings on
// stderr, so stdout carries only the tool's own output.
const toolsLog4jProperties = `# Written by devstack: command line tools log warnings to stderr.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d{ISO8601}] %p %m (%c)%n
`

// sharedFiles are written once per Up, before any process starts.
func (in renderInput) sharedFiles() []file {
	files := []file{
		{Path: log4jPath(in.Dir), Content: log4jProperties, Mode: 0o644},
		{Path: toolsLog4jPath(in.Dir), Content: toolsLog4jProperties, Mode: 0o644},
	}
	if in.Layout.HDFS {
		d := hadoopConfDir(in.Dir)
		files = append(files,
			file{Path: filepath.Join(d, "core-site.xml"), Content: hadoopXML(in.coreSite()), Mode: 0o644},
			file{Path: filepath.Join(d, "hdfs-site.xml"), Content: hadoopXML(in.hdfsSite()), Mode: 0o644},
		)
		for _, app := range hadoopWebApps {
			files = append(files, file{
				Path:    filepath.Join(hadoopWebDir(in.Dir), "webapps", app, "WEB-INF", "web.xml"),
				Content: emptyWebXML, Mode: 0o644,
			})
		}
	}
	return files
}

func (in renderInput) base(name string, kind Kind, index int) procSpec {
	work := filepath.Join(in.Dir, name)
	return procSpec{
		Name:    name,
		Kind:    kind,
		Index:   index,
		Env:     in.Env,
		WorkDir: work,
		DataDir: filepath.Join(work, "data"),
		Ports:   in.Layout.Ports(name),
		Log:     logPath(in.Dir, name),
	}
}

// jvm returns java and the JVM options common to every process.
func (in renderInput) jvm(name string, kind Kind) []string {
	return []string{
		in.Java,
		fmt.Sprintf("-Xms%dm", min(64, heapMB[kind])),
		fmt.Sprintf("-Xmx%dm", heapMB[kind]),
		"-XX:+UseG1GC",
		"-XX:MaxGCPauseMillis=20",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Djava.net.preferIPv4Stack=true",
		"-Dlog4j.configuration=file:" + log4jPath(in.Dir),
		// Jetty and others unpack here; clean removes it with the stack.
		"-Djava.io.tmpdir=" + filepath.Join(in.Dir, "tmp"),
		marker(in.Dir, name),
	}
}

func (in renderInput) zooKeeper(i int) procSpec {
	name := ZooKeeperName(i)
	s := in.base(name, KindZooKeeper, i)
	cfg := filepath.Join(s.WorkDir, "zoo.cfg")
	s.Args = append(in.jvm(name, KindZooKeeper),
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", in.KafkaClasspath,
		mainClass[KindZooKeeper], cfg)
	s.Files = []file{
		{Path: cfg, Content: zooCfg(in.Layout, i, s.DataDir), Mode: 0o644},
		{Path: filepath.Join(s.DataDir, "myid"), Content: strconv.Itoa(i) + "\n", Mode: 0o644},
	}
	return s
}

// zooCfg is zk-i's configuration: the thesis's tick and limits, 4lw
// commands for health checks, no admin server.
func zooCfg(l Layout, i int, dataDir string) string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s=%v\n", k, v) }
	kv("tickTime", zkTickTimeMS)
	kv("initLimit", 10)
	kv("syncLimit", 5)
	kv("dataDir", dataDir)
	kv("clientPort", l.ZooKeeperClient(i))
	kv("clientPortAddress", "127.0.0.1")
	kv("maxClientCnxns", 0) // every client comes from 127.0.0.1
	kv("4lw.commands.whitelist", "*")
	kv("admin.enableServer", false)
	kv("autopurge.snapRetainCount", 3)
	kv("autopurge.purgeInterval", 1)
	for j := 1; j <= l.ZooKeepers; j++ {
		kv(fmt.Sprintf("server.%d", j), fmt.Sprintf("127.0.0.1:%d:%d", l.ZooKeeperQuorum(j), l.ZooKeeperElection(j)))
	}
	return b.String()
}

func (in renderInput) edgeKafka(i int) procSpec {
	name := EdgeKafkaName(i)
	s := in.base(name, KindEdgeKafka, i)
	props := filepath.Join(s.WorkDir, "server.properties")
	s.Args = append(in.jvm(name, KindEdgeKafka), "-cp", in.KafkaClasspath, mainClass[KindEdgeKafka], props)
	s.Files = []file{{Path: props, Content: edgeKafkaProperties(in.Layout, i, s.DataDir), Mode: 0o644}}
	return s
}

// kafkaCommon are the settings both clusters share, with the cluster's
// replication factor and min.insync.replicas for topics and the internal
// topics.
func kafkaCommon(l Layout, chroot, dataDir string, rf, minISR int) []kv {
	return []kv{
		{"log.dirs", dataDir},
		{"zookeeper.connect", l.ZooKeeperConnect(chroot)},
		{"zookeeper.session.timeout.ms", brokerSessionTimeoutMS},
		// A broker started together with the ensemble waits for it.
		{"zookeeper.connection.timeout.ms", 60000},
		{"auto.create.topics.enable", false},
		{"delete.topic.enable", true},
		{"unclean.leader.election.enable", false},
		{"message.max.bytes", MaxMessageBytes},
		{"replica.fetch.max.bytes", MaxMessageBytes},
		{"group.initial.rebalance.delay.ms", 0},
		{"offsets.topic.num.partitions", 10},
		{"transaction.state.log.num.partitions", 10},
		// Small machine: fewer threads, a small log cleaner buffer (its
		// 128 MiB default would take a third of a broker's heap).
		{"num.network.threads", 2},
		{"num.io.threads", 4},
		{"num.recovery.threads.per.data.dir", 1},
		{"background.threads", 4},
		{"log.cleaner.threads", 1},
		{"log.cleaner.dedupe.buffer.size", 16 << 20},
		{"default.replication.factor", rf},
		{"min.insync.replicas", minISR},
		{"offsets.topic.replication.factor", rf},
		{"transaction.state.log.replication.factor", rf},
		{"transaction.state.log.min.isr", minISR},
	}
}

// edgeKafkaProperties is edge-kafka-i's server.properties.
func edgeKafkaProperties(l Layout, i int, dataDir string) string {
	listener := "PLAINTEXT://" + addr(l.EdgeKafka(i))
	props := []kv{
		{"broker.id", i},
		{"listeners", listener},
		{"advertised.listeners", listener},
	}
	return properties(append(props, kafkaCommon(l, EdgeChroot, dataDir, 3, 2)...))
}

func (in renderInput) cloudKafka() procSpec {
	s := in.base(CloudKafkaName, KindCloudKafka, 1)
	props := filepath.Join(s.WorkDir, "server.properties")
	s.Args = append(in.jvm(CloudKafkaName, KindCloudKafka), "-cp", in.KafkaClasspath, mainClass[KindCloudKafka], props)
	s.Files = []file{{Path: props, Content: cloudKafkaProperties(in.Layout, s.DataDir, in.TLS), Mode: 0o644}}
	return s
}

// cloudKafkaProperties is cloud-kafka-1's server.properties: PLAINTEXT and
// SASL_SSL with SCRAM-SHA-512 and PEM stores (KIP-651).
func cloudKafkaProperties(l Layout, dataDir string, tls tlsPaths) string {
	listeners := "PLAINTEXT://" + addr(l.CloudPlaintext()) + ",SASL_SSL://" + addr(l.CloudSASLSSL())
	props := []kv{
		{"broker.id", 1},
		{"listeners", listeners + ",PROXIED://" + addr(l.CloudProxied())},
		// PROXIED advertises the port a faultproxy listens on, so its
		// clients' every connection goes through the proxy.
		{"advertised.listeners", listeners + ",PROXIED://" + addr(l.CloudProxy())},
		{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,PROXIED:PLAINTEXT"},
		{"inter.broker.listener.name", "PLAINTEXT"},
		{"sasl.enabled.mechanisms", "SCRAM-SHA-512"},
		{"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required;"},
		{"ssl.keystore.type", "PEM"},
		{"ssl.keystore.location", tls.Keystore},
		{"ssl.truststore.type", "PEM"},
		{"ssl.truststore.location", tls.CACert},
		{"ssl.client.auth", "none"},
		// ACLs, so tests can see an authorization failure: PLAINTEXT
		// clients (User:ANONYMOUS, the inter-broker listener too) may do
		// anything, and so may the SCRAM user wherever no ACL names the
		// resource; a test denies it a topic by adding a DENY ACL.
		{"authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"},
		{"super.users", "User:ANONYMOUS"},
		{"allow.everyone.if.no.acl.found", true},
	}
	return properties(append(props, kafkaCommon(l, CloudChroot, dataDir, 1, 1)...))
}

// hadoopJVM adds what Hadoop's launch scripts would.
func (in renderInput) hadoopJVM(name string, kind Kind, proc string) []string {
	return append(in.jvm(name, kind),
		"-Dproc_"+proc,
		"-Dhadoop.log.dir="+filepath.Join(in.Dir, "logs"),
		"-Dhadoop.log.file="+name+".log",
		"-Dhadoop.home.dir="+filepath.Join(in.Dir, "hdfs"),
		"-Dhadoop.root.logger=INFO,console",
		"-Dhadoop.security.logger=WARN,console",
		"-cp", hadoopConfDir(in.Dir)+":"+hadoopWebDir(in.Dir)+":"+in.HadoopClasspath,
		mainClass[kind],
	)
}

func (in renderInput) nameNode() procSpec {
	s := in.base(NameNodeName, KindNameNode, 1)
	s.Args = in.hadoopJVM(NameNodeName, KindNameNode, "namenode")
	return s
}

// nameNodeFormatArgs formats the NameNode; it runs once, in the foreground,
// before the first start.
func (in renderInput) nameNodeFormatArgs() []string {
	return append(in.hadoopJVM(NameNodeName+"-format", KindNameNode, "namenode"),
		"-format", "-nonInteractive", "-clusterid", "sensornode-devstack")
}

func (in renderInput) dataNode() procSpec {
	s := in.base(DataNodeName, KindDataNode, 1)
	s.Args = in.hadoopJVM(DataNodeName, KindDataNode, "datanode")
	return s
}

func nameDir(dir string) string { return filepath.Join(dir, NameNodeName, "data") }
func dataDir(dir string) string { return filepath.Join(dir, DataNodeName, "data") }

func (in renderInput) coreSite() []kv {
	return []kv{
		{"fs.defaultFS", "hdfs://" + addr(in.Layout.NameNodeRPC())},
		{"hadoop.tmp.dir", filepath.Join(in.Dir, "hdfs", "tmp")},
		{"hadoop.security.authentication", "simple"},
	}
}

func (in renderInput) hdfsSite() []kv {
	l := in.Layout
	return []kv{
		{"dfs.replication", 1},
		{"dfs.namenode.name.dir", "file://" + nameDir(in.Dir)},
		{"dfs.datanode.data.dir", "file://" + dataDir(in.Dir)},
		{"dfs.namenode.rpc-address", addr(l.NameNodeRPC())},
		{"dfs.namenode.http-address", addr(l.NameNodeHTTP())},
		{"dfs.namenode.https-address", addr(l.Base + OffsetNameNodeHTTPS)},
		{"dfs.datanode.address", addr(l.Base + OffsetDataNodeData)},
		{"dfs.datanode.ipc.address", addr(l.Base + OffsetDataNodeIPC)},
		{"dfs.datanode.http.address", addr(l.Base + OffsetDataNodeHTTP)},
		{"dfs.datanode.https.address", addr(l.Base + OffsetDataNodeHTTPS)},
		{"dfs.datanode.http.internal-proxy.port", l.Base + OffsetDataNodeInternal},
		// Clients on 127.0.0.1 reach the DataNode by IP or by hostname.
		{"dfs.datanode.hostname", "127.0.0.1"},
		{"dfs.namenode.datanode.registration.ip-hostname-check", false},
		// Leave safe mode as soon as the blocks are reported, not 30 s later.
		{"dfs.namenode.safemode.threshold-pct", "0.999"},
		{"dfs.namenode.safemode.extension", 0},
		{"dfs.namenode.safemode.min.datanodes", 1},
		// A killed DataNode is declared dead after 2*15 s + 10*3 s.
		{"dfs.heartbeat.interval", 3},
		{"dfs.namenode.heartbeat.recheck-interval", 15000},
		// A local stack: any user may write anywhere.
		{"dfs.permissions.enabled", false},
		{"dfs.namenode.handler.count", 5},
		{"dfs.datanode.handler.count", 3},
		{"dfs.namenode.resource.du.reserved", 64 << 20},
		// A closed block is fsynced by the DataNode before close returns:
		// "durable in HDFS" (closed) survives the DataNode host losing
		// power, not only a DataNode process crash.
		{"dfs.datanode.synconclose", true},
	}
}

// log4jProperties is the log4j 1 (reload4j) configuration of every process:
// to stdout, which the launcher appends to logs/NAME.log.
const log4jProperties = `# Written by devstack: every process logs to stdout, appended to logs/NAME.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d{ISO8601}] %p %m (%c)%n
# Hadoop's launch scripts name these appenders.
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=[%d{ISO8601}] %p %m (%c)%n
log4j.appender.NullAppender=org.apache.log4j.varia.NullAppender
# ZooKeeper: not every health check's srvr
log4j.logger.org.apache.zookeeper.server.NIOServerCnxn=WARN
# Kafka
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log.LogCleaner=WARN
# Hadoop
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.BlockStateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
log4j.logger.org.apache.hadoop.metrics2=WARN
`

// kv is one setting; a slice of them keeps files in a stable order.
type kv struct {
	Key   string
	Value any
}

func properties(props []kv) string {
	var b strings.Builder
	b.WriteString("# Written by devstack on every up; edits are lost.\n")
	for _, p := range props {
		fmt.Fprintf(&b, "%s=%v\n", p.Key, p.Value)
	}
	return b.String()
}

func hadoopXML(props []kv) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!-- Written by devstack on every up; edits are lost. -->\n<configuration>\n")
	for _, p := range props {
		fmt.Fprintf(&b, "  <property><name>%s</name><value>%s</value></property>\n",
			html.EscapeString(p.Key), html.EscapeString(fmt.Sprint(p.Value)))
	}
	b.WriteString("</configuration>\n")
	return b.String()
}
