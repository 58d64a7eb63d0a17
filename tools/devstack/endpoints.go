package devstack

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// Dir is the stack dir.
func (s *Stack) Dir() string { return s.dir }

// OwnedByTests reports whether devstacktest started the stack (and the last
// test binary using it stops it).
func (s *Stack) OwnedByTests() bool {
	st, err := s.load()
	if err != nil {
		return false
	}
	return st.OwnedByTests
}

// Running reports whether any process of the stack runs.
func (s *Stack) Running() bool {
	st, err := s.load()
	if err != nil {
		return false
	}
	return st.anyAlive()
}

// Processes lists the process names in start order.
func (s *Stack) Processes() []string {
	out := make([]string, len(s.st.Processes))
	for i, p := range s.st.Processes {
		out[i] = p.Name
	}
	return out
}

// PIDs maps each process name to its process id as recorded in the state
// file now (a process restarted meanwhile has its new id); empty when the
// state cannot be read.
func (s *Stack) PIDs() map[string]int {
	out := map[string]int{}
	st, err := s.load()
	if err != nil {
		return out
	}
	for _, p := range st.Processes {
		if p.PID > 0 {
			out[p.Name] = p.PID
		}
	}
	return out
}

// Layout is the stack's port layout.
func (s *Stack) Layout() Layout { return s.st.layout() }

// EdgeBootstrap is the edge cluster's bootstrap.servers (PLAINTEXT).
func (s *Stack) EdgeBootstrap() string { return s.st.layout().EdgeBootstrap() }

// EdgeBrokerAddr is the listener of edge broker id (1-based).
func (s *Stack) EdgeBrokerAddr(id int) string { return addr(s.st.layout().EdgeKafka(id)) }

// EdgeBrokers is the number of edge brokers; their ids are 1..EdgeBrokers.
func (s *Stack) EdgeBrokers() int { return s.st.EdgeBrokers }

// CloudBootstrap is the cloud cluster's PLAINTEXT bootstrap.servers.
func (s *Stack) CloudBootstrap() string { return addr(s.st.layout().CloudPlaintext()) }

// CloudSecureBootstrap is the cloud cluster's SASL_SSL bootstrap.servers.
func (s *Stack) CloudSecureBootstrap() string { return addr(s.st.layout().CloudSASLSSL()) }

// CloudProxiedBootstrap is the bootstrap.servers of the cloud cluster
// through a proxy: the broker's PROXIED listener advertises this address,
// which nothing of the stack listens on. Run a proxy there to
// CloudProxiedTarget (faultproxy.New(st.CloudProxiedBootstrap(),
// st.CloudProxiedTarget())) and cut it to make the cloud unreachable for
// these clients while the broker keeps running. PLAINTEXT. There is one
// such port per stack: tests take devstacktest.Exclusive first.
func (s *Stack) CloudProxiedBootstrap() string { return addr(s.st.layout().CloudProxy()) }

// CloudProxiedTarget is the broker's PROXIED listener, the target of a
// proxy on CloudProxiedBootstrap.
func (s *Stack) CloudProxiedTarget() string { return addr(s.st.layout().CloudProxied()) }

// CACertFile is the PEM file of the CA that signed the cloud broker's
// certificate (valid for 127.0.0.1 and localhost).
func (s *Stack) CACertFile() string { return newTLSPaths(s.dir).CACert }

// SCRAMMechanism is the SASL mechanism of the cloud SASL_SSL listener.
func (s *Stack) SCRAMMechanism() string { return "SCRAM-SHA-512" }

// SCRAMUser is the cloud cluster's SCRAM user.
func (s *Stack) SCRAMUser() string { return s.st.SCRAMUser }

// SCRAMPassword is the SCRAM user's password.
func (s *Stack) SCRAMPassword() string { return s.st.SCRAMPass }

// SCRAMPasswordFile holds SCRAMPassword (mode 0600, no newline).
func (s *Stack) SCRAMPasswordFile() string { return filepath.Join(s.dir, scramFileName) }

// CloudSecureConfig is the librdkafka configuration (bootstrap.servers
// aside) of a client of the SASL_SSL listener.
func (s *Stack) CloudSecureConfig() map[string]string { return cloudSecureConfig(s.st, s.CACertFile()) }

// ZooKeeperServers lists host:port of every ensemble member.
func (s *Stack) ZooKeeperServers() []string { return s.st.layout().ZooKeeperServers() }

// ZooKeeperConnect is the ensemble's connect string without a chroot.
func (s *Stack) ZooKeeperConnect() string { return s.st.layout().ZooKeeperConnect("") }

// EdgeChroot is the ZooKeeper chroot of the edge cluster.
func (s *Stack) EdgeChroot() string { return EdgeChroot }

// CloudChroot is the ZooKeeper chroot of the cloud cluster.
func (s *Stack) CloudChroot() string { return CloudChroot }

// HasHDFS reports whether the stack runs HDFS.
func (s *Stack) HasHDFS() bool { return s.st.HDFS }

// NameNodeAddr is the NameNode's RPC address (fs.defaultFS without hdfs://).
func (s *Stack) NameNodeAddr() string { return addr(s.st.layout().NameNodeRPC()) }

// NameNodeHTTP is the NameNode's HTTP address (web UI, /jmx, WebHDFS).
func (s *Stack) NameNodeHTTP() string { return addr(s.st.layout().NameNodeHTTP()) }

// NameNodeState reads the NameNode's safe mode and DataNode counts.
func (s *Stack) NameNodeState(ctx context.Context) (NameNodeState, error) {
	return nameNodeState(ctx, s.NameNodeHTTP())
}

// Java is the java binary the stack runs on.
func (s *Stack) Java() string { return s.st.Java }

// KafkaClasspath is the classpath of Kafka 3.9 with its tools
// (org.apache.kafka.tools.ProducerPerformance) and MirrorMaker 2
// (org.apache.kafka.connect.mirror.MirrorMaker).
func (s *Stack) KafkaClasspath() string { return s.st.KafkaCP }

// HadoopClasspath is the classpath of hadoop-common and hadoop-hdfs; empty
// without HDFS.
func (s *Stack) HadoopClasspath() string { return s.st.HadoopCP }

// FsShellArgs are the java arguments that run Hadoop's own shell (`hdfs
// dfs`, org.apache.hadoop.fs.FsShell) against the stack's HDFS with args,
// e.g. FsShellArgs("-text", "/x.avro"): the stack's Hadoop configuration
// first on the classpath, tool logging on stderr. Run them with Java() and
// HADOOP_USER_NAME=HDFSUser().
func (s *Stack) FsShellArgs(args ...string) []string {
	return append([]string{"-Dlog4j.configuration=file:" + toolsLog4jPath(s.dir),
		"-cp", hadoopConfDir(s.dir) + ":" + s.st.HadoopCP, "org.apache.hadoop.fs.FsShell"}, args...)
}

// Log4jConfig is the log4j 1 properties file the stack's JVMs use (INFO
// to stdout); pass it as -Dlog4j.configuration=file:PATH.
func (s *Stack) Log4jConfig() string { return log4jPath(s.dir) }

// ToolsLog4jConfig is a log4j 1 properties file for command line tools:
// WARN and above to stderr.
func (s *Stack) ToolsLog4jConfig() string { return toolsLog4jPath(s.dir) }

// KafkaTool returns a command running a Java main class on the stack's Java
// and Kafka classpath with a heap of heapMB and log4j warnings on stderr,
// for example
//
//	st.KafkaTool(ctx, 256, "org.apache.kafka.tools.ProducerPerformance",
//		"--topic", t, "--num-records", "1000", "--record-size", "60000",
//		"--throughput", "-1", "--producer-props", "bootstrap.servers="+st.EdgeBootstrap(), "acks=all")
//
// or "org.apache.kafka.connect.mirror.MirrorMaker" with an mm2.properties.
// The caller sets Stdout and Stderr and runs it.
func (s *Stack) KafkaTool(ctx context.Context, heapMB int, mainClass string, args ...string) *exec.Cmd {
	argv := []string{
		fmt.Sprintf("-Xmx%dm", heapMB), "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + s.ToolsLog4jConfig(),
		"-cp", s.KafkaClasspath(), mainClass,
	}
	cmd := exec.CommandContext(ctx, s.Java(), append(argv, args...)...)
	cmd.Env = childEnv()
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// LogFile is the log of a process (stdout and stderr, appended across
// restarts).
func (s *Stack) LogFile(name string) (string, error) {
	if !slices.Contains(s.Processes(), name) {
		return "", fmt.Errorf("%q: %w", name, ErrUnknownProcess)
	}
	return logPath(s.dir, name), nil
}

// FreePort returns port n (0..99) of the range the stack leaves free for
// callers: PortBase+900+n.
func (s *Stack) FreePort(n int) (int, error) {
	if n < 0 || n >= PortSpan-FreePortOffset {
		return 0, fmt.Errorf("free port %d: want 0..%d", n, PortSpan-FreePortOffset-1)
	}
	return s.st.PortBase + FreePortOffset + n, nil
}

// EnvVar is one line of Env.
type EnvVar struct {
	Name, Value string
}

// Env lists the SENSORNODE_* variables that point services and tools at
// the stack, in a stable order.
func (s *Stack) Env() []EnvVar {
	env := []EnvVar{
		{EnvDir, s.dir},
		{"SENSORNODE_DEVSTACK_EDGE_BROKERS", s.EdgeBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_BROKERS", s.CloudBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_SECURE_BROKERS", s.CloudSecureBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_CA_FILE", s.CACertFile()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_MECHANISM", s.SCRAMMechanism()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_USERNAME", s.SCRAMUser()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_PASSWORD_FILE", s.SCRAMPasswordFile()},
		{"SENSORNODE_DEVSTACK_ZOOKEEPER_CONNECT", s.ZooKeeperConnect()},
		{"SENSORNODE_DEVSTACK_EDGE_ZOOKEEPER_CHROOT", EdgeChroot},
		{"SENSORNODE_DEVSTACK_CLOUD_ZOOKEEPER_CHROOT", CloudChroot},
	}
	if s.HasHDFS() {
		env = append(env,
			EnvVar{"SENSORNODE_DEVSTACK_NAMENODE_ADDR", s.NameNodeAddr()},
			EnvVar{"SENSORNODE_DEVSTACK_NAMENODE_HTTP_ADDR", s.NameNodeHTTP()},
		)
	}
	env = append(env,
		EnvVar{"SENSORNODE_DEVSTACK_JAVA", s.Java()},
		EnvVar{"SENSORNODE_DEVSTACK_KAFKA_CLASSPATH", s.KafkaClasspath()},
	)
	if s.HasHDFS() {
		env = append(env, EnvVar{"SENSORNODE_DEVSTACK_HADOOP_CLASSPATH", s.HadoopClasspath()})
	}
	return env
}
