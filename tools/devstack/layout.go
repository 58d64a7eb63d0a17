package devstack

import (
	"fmt"
	"strings"
)

// Port offsets from Config.PortBase. Index i (1-based) is added where a kind
// has several members: zk-2's client port is PortBase+OffsetZooKeeperClient+2.
const (
	OffsetEdgeKafka        = 10  // +11..+15: edge-kafka-N PLAINTEXT
	OffsetCloudPlaintext   = 21  // cloud-kafka-1 PLAINTEXT
	OffsetCloudSASLSSL     = 22  // cloud-kafka-1 SASL_SSL (SCRAM-SHA-512)
	OffsetCloudProxied     = 23  // cloud-kafka-1 PLAINTEXT listener that advertises +24
	OffsetCloudProxy       = 24  // not bound by the stack: where a faultproxy to +23 listens
	OffsetZooKeeperClient  = 180 // +181..+185: zk-N clientPort
	OffsetZooKeeperQuorum  = 280 // +281..+285: zk-N quorum (follower to leader)
	OffsetZooKeeperElect   = 380 // +381..+385: zk-N leader election
	OffsetNameNodeRPC      = 820 // like 8020
	OffsetDataNodeHTTP     = 864 // like 9864
	OffsetDataNodeHTTPS    = 865 // reserved, not bound (HTTP only)
	OffsetDataNodeData     = 866 // like 9866, data transfer
	OffsetDataNodeIPC      = 867 // like 9867
	OffsetDataNodeInternal = 868 // DataNode's internal Jetty behind its Netty HTTP server
	OffsetNameNodeHTTP     = 870 // like 9870, web UI and /jmx
	OffsetNameNodeHTTPS    = 871 // reserved, not bound (HTTP only)
)

// Chroots of the two Kafka clusters in the shared ensemble.
const (
	EdgeChroot  = "/edge"
	CloudChroot = "/cloud"
)

// Process names.
const (
	CloudKafkaName = "cloud-kafka-1"
	NameNodeName   = "hdfs-namenode"
	DataNodeName   = "hdfs-datanode"
)

// ZooKeeperName is the process name of ensemble member i (1-based).
func ZooKeeperName(i int) string { return fmt.Sprintf("zk-%d", i) }

// EdgeKafkaName is the process name of edge broker i (1-based), whose
// broker.id is i.
func EdgeKafkaName(i int) string { return fmt.Sprintf("edge-kafka-%d", i) }

// Kind is what a process is.
type Kind string

// Kinds of process.
const (
	KindZooKeeper  Kind = "zookeeper"
	KindEdgeKafka  Kind = "edge-kafka"
	KindCloudKafka Kind = "cloud-kafka"
	KindNameNode   Kind = "hdfs-namenode"
	KindDataNode   Kind = "hdfs-datanode"
)

// Layout is the port layout of a stack; every port is on 127.0.0.1.
type Layout struct {
	Base        int
	ZooKeepers  int
	EdgeBrokers int
	HDFS        bool
}

// NewLayout returns the layout of a stack with the given port base and sizes.
func NewLayout(base, zookeepers, edgeBrokers int, hdfs bool) Layout {
	return Layout{Base: base, ZooKeepers: zookeepers, EdgeBrokers: edgeBrokers, HDFS: hdfs}
}

// ZooKeeperClient is the clientPort of zk-i.
func (l Layout) ZooKeeperClient(i int) int { return l.Base + OffsetZooKeeperClient + i }

// ZooKeeperQuorum is the quorum port of zk-i.
func (l Layout) ZooKeeperQuorum(i int) int { return l.Base + OffsetZooKeeperQuorum + i }

// ZooKeeperElection is the leader election port of zk-i.
func (l Layout) ZooKeeperElection(i int) int { return l.Base + OffsetZooKeeperElect + i }

// EdgeKafka is the PLAINTEXT port of edge-kafka-i.
func (l Layout) EdgeKafka(i int) int { return l.Base + OffsetEdgeKafka + i }

// CloudPlaintext is the PLAINTEXT port of cloud-kafka-1.
func (l Layout) CloudPlaintext() int { return l.Base + OffsetCloudPlaintext }

// CloudSASLSSL is the SASL_SSL port of cloud-kafka-1.
func (l Layout) CloudSASLSSL() int { return l.Base + OffsetCloudSASLSSL }

// CloudProxied is the port of cloud-kafka-1's PROXIED listener, which
// advertises CloudProxy: clients of it reach the broker only through a
// proxy listening on CloudProxy.
func (l Layout) CloudProxied() int { return l.Base + OffsetCloudProxied }

// CloudProxy is the port a proxy to CloudProxied listens on.
func (l Layout) CloudProxy() int { return l.Base + OffsetCloudProxy }

// NameNodeRPC is the NameNode's client RPC port (fs.defaultFS).
func (l Layout) NameNodeRPC() int { return l.Base + OffsetNameNodeRPC }

// NameNodeHTTP is the NameNode's HTTP port (web UI, /jmx, WebHDFS).
func (l Layout) NameNodeHTTP() int { return l.Base + OffsetNameNodeHTTP }

// ZooKeeperServers lists host:port of every ensemble member.
func (l Layout) ZooKeeperServers() []string {
	out := make([]string, l.ZooKeepers)
	for i := range out {
		out[i] = addr(l.ZooKeeperClient(i + 1))
	}
	return out
}

// ZooKeeperConnect is a ZooKeeper connect string with an optional chroot.
func (l Layout) ZooKeeperConnect(chroot string) string {
	return strings.Join(l.ZooKeeperServers(), ",") + chroot
}

// EdgeBootstrap is the bootstrap.servers list of the edge cluster.
func (l Layout) EdgeBootstrap() string {
	out := make([]string, l.EdgeBrokers)
	for i := range out {
		out[i] = addr(l.EdgeKafka(i + 1))
	}
	return strings.Join(out, ",")
}

// Ports lists the ports a process binds, by role.
func (l Layout) Ports(name string) map[string]int {
	kind, i, ok := l.parseName(name)
	if !ok {
		return nil
	}
	switch kind {
	case KindZooKeeper:
		return map[string]int{"client": l.ZooKeeperClient(i), "quorum": l.ZooKeeperQuorum(i), "election": l.ZooKeeperElection(i)}
	case KindEdgeKafka:
		return map[string]int{"plaintext": l.EdgeKafka(i)}
	case KindCloudKafka:
		return map[string]int{"plaintext": l.CloudPlaintext(), "sasl_ssl": l.CloudSASLSSL(), "proxied": l.CloudProxied()}
	case KindNameNode:
		return map[string]int{"rpc": l.NameNodeRPC(), "http": l.NameNodeHTTP()}
	case KindDataNode:
		return map[string]int{
			"data":          l.Base + OffsetDataNodeData,
			"ipc":           l.Base + OffsetDataNodeIPC,
			"http":          l.Base + OffsetDataNodeHTTP,
			"http-internal": l.Base + OffsetDataNodeInternal,
		}
	}
	return nil
}

// Names lists every process of the stack in start order: the ensemble, the
// edge brokers, the cloud broker, then HDFS.
func (l Layout) Names() []string {
	var out []string
	for i := 1; i <= l.ZooKeepers; i++ {
		out = append(out, ZooKeeperName(i))
	}
	for i := 1; i <= l.EdgeBrokers; i++ {
		out = append(out, EdgeKafkaName(i))
	}
	out = append(out, CloudKafkaName)
	if l.HDFS {
		out = append(out, NameNodeName, DataNodeName)
	}
	return out
}

// parseName returns the kind and 1-based index of a process name of this
// layout.
func (l Layout) parseName(name string) (Kind, int, bool) {
	switch name {
	case CloudKafkaName:
		return KindCloudKafka, 1, true
	case NameNodeName:
		return KindNameNode, 1, l.HDFS
	case DataNodeName:
		return KindDataNode, 1, l.HDFS
	}
	var i int
	if _, err := fmt.Sscanf(name, "zk-%d", &i); err == nil && name == ZooKeeperName(i) {
		return KindZooKeeper, i, i >= 1 && i <= l.ZooKeepers
	}
	if _, err := fmt.Sscanf(name, "edge-kafka-%d", &i); err == nil && name == EdgeKafkaName(i) {
		return KindEdgeKafka, i, i >= 1 && i <= l.EdgeBrokers
	}
	return "", 0, false
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
