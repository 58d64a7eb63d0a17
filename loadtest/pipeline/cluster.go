package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/devstack"
)

// Cluster is where the pipeline runs: the edge and cloud Kafka clusters
// and HDFS, plus a Java and Kafka classpath for the Kafka tools used as
// baselines.
type Cluster struct {
	// Name says where it came from: "devstack /path" or "environment".
	Name      string
	Edge      bus.Config
	Cloud     bus.Config
	NameNodes []string
	HDFSUser  string
	// NameNodeHTTP is the NameNode's HTTP address (host:port) for its JMX
	// metrics; "" when unknown (NameNode objects are then not measured).
	NameNodeHTTP string
	// Replication of the topics the harness creates.
	EdgeRF, EdgeMinISR, CloudRF, CloudMinISR int
	Java, KafkaClasspath                     string
	// FreePortBase is where admin ports of the services start.
	FreePortBase int
	// Stack is the devstack, nil for a cluster from the environment.
	Stack *devstack.Stack
}

// FromDevstack describes a running devstack. secureCloud uses the cloud
// broker's SASL_SSL (SCRAM-SHA-512) listener instead of PLAINTEXT.
func FromDevstack(st *devstack.Stack, secureCloud bool) Cluster {
	c := Cluster{
		Name:      "devstack " + st.Dir(),
		Edge:      bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "sensornode"},
		Cloud:     bus.Config{Brokers: []string{st.CloudBootstrap()}, ClientID: "sensornode"},
		NameNodes: []string{st.NameNodeAddr()}, NameNodeHTTP: st.NameNodeHTTP(),
		HDFSUser: devstack.HDFSUser(),
		EdgeRF:   min(3, st.EdgeBrokers()), EdgeMinISR: min(2, st.EdgeBrokers()),
		CloudRF: 1, CloudMinISR: 1,
		Java: st.Java(), KafkaClasspath: st.KafkaClasspath(),
		Stack: st,
	}
	if p, err := st.FreePort(0); err == nil {
		c.FreePortBase = p
	}
	if secureCloud {
		c.Cloud.Brokers = []string{st.CloudSecureBootstrap()}
		c.Cloud.TLS = bus.TLSConfig{Enabled: true, CAFile: st.CACertFile()}
		c.Cloud.SASL = bus.SASLConfig{Mechanism: st.SCRAMMechanism(), Username: st.SCRAMUser(), PasswordFile: st.SCRAMPasswordFile()}
	}
	return c
}

// envCluster is a cluster given by SENSORNODE_* variables: the same names
// the services read.
type envCluster struct {
	Edge           bus.Config `envconfig:"EDGE_KAFKA"`
	Cloud          bus.Config `envconfig:"CLOUD_KAFKA"`
	NameNodes      []string   `envconfig:"HDFS_NAMENODE_ADDR"`
	HDFSUser       string     `envconfig:"HDFS_USER" default:"sensornode"`
	NameNodeHTTP   string     `envconfig:"LOADTEST_NAMENODE_HTTP_ADDR"`
	EdgeRF         int        `envconfig:"LOADTEST_EDGE_REPLICATION_FACTOR" default:"3"`
	EdgeMinISR     int        `envconfig:"LOADTEST_EDGE_MIN_INSYNC_REPLICAS" default:"2"`
	CloudRF        int        `envconfig:"LOADTEST_CLOUD_REPLICATION_FACTOR" default:"3"`
	CloudMinISR    int        `envconfig:"LOADTEST_CLOUD_MIN_INSYNC_REPLICAS" default:"2"`
	Java           string     `envconfig:"LOADTEST_JAVA" default:"java"`
	KafkaClasspath string     `envconfig:"LOADTEST_KAFKA_CLASSPATH"`
	AdminPortBase  int        `envconfig:"LOADTEST_ADMIN_PORT_BASE" default:"19100"`
}

func (e *envCluster) Validate() error {
	var p svc.Problems
	for _, need := range []string{"SENSORNODE_EDGE_KAFKA_BROKERS", "SENSORNODE_CLOUD_KAFKA_BROKERS", "SENSORNODE_HDFS_NAMENODE_ADDR"} {
		if os.Getenv(need) == "" {
			p.Addf("%s is required for a cluster given by environment", need)
		}
	}
	if err := e.Edge.Validate(); err != nil {
		p.Addf("edge: %v", err)
	}
	if err := e.Cloud.Validate(); err != nil {
		p.Addf("cloud: %v", err)
	}
	if e.EdgeRF < 1 || e.CloudRF < 1 || e.EdgeMinISR < 1 || e.CloudMinISR < 1 || e.EdgeMinISR > e.EdgeRF || e.CloudMinISR > e.CloudRF {
		p.Addf("replication factors and min ISR must be >= 1 and min ISR <= RF")
	}
	return p.Err()
}

// ClusterFromEnv reads a cluster from the environment when
// SENSORNODE_EDGE_KAFKA_BROKERS is set; ok is false otherwise (use
// devstack).
func ClusterFromEnv() (c Cluster, ok bool, err error) {
	if os.Getenv("SENSORNODE_EDGE_KAFKA_BROKERS") == "" {
		return Cluster{}, false, nil
	}
	var e envCluster
	if err := svc.LoadConfig(&e); err != nil {
		return Cluster{}, true, err
	}
	return Cluster{
		Name: "environment", Edge: e.Edge, Cloud: e.Cloud, NameNodes: e.NameNodes, HDFSUser: e.HDFSUser, NameNodeHTTP: e.NameNodeHTTP,
		EdgeRF: e.EdgeRF, EdgeMinISR: e.EdgeMinISR, CloudRF: e.CloudRF, CloudMinISR: e.CloudMinISR,
		Java: e.Java, KafkaClasspath: e.KafkaClasspath, FreePortBase: e.AdminPortBase,
	}, true, nil
}

// KafkaEnv renders a client config as the SENSORNODE_<prefix>_* variables
// a service reads (prefix e.g. "EDGE_KAFKA"); backend overrides c.Backend
// when not empty.
func KafkaEnv(prefix string, c bus.Config, backend string) []string {
	p := "SENSORNODE_" + prefix + "_"
	env := []string{p + "BROKERS=" + strings.Join(c.Brokers, ",")}
	if backend == "" {
		backend = c.Backend
	}
	if backend != "" {
		env = append(env, p+"BACKEND="+backend)
	}
	if c.TLS.Enabled {
		env = append(env, p+"TLS_ENABLED=true")
		for k, v := range map[string]string{"CA_FILE": c.TLS.CAFile, "CERT_FILE": c.TLS.CertFile, "KEY_FILE": c.TLS.KeyFile, "SERVER_NAME": c.TLS.ServerName} {
			if v != "" {
				env = append(env, p+"TLS_"+k+"="+v)
			}
		}
		if c.TLS.InsecureSkipVerify {
			env = append(env, p+"TLS_INSECURE_SKIP_VERIFY=true")
		}
	}
	if c.SASL.Mechanism != "" {
		env = append(env, p+"SASL_MECHANISM="+c.SASL.Mechanism, p+"SASL_USERNAME="+c.SASL.Username)
		if c.SASL.PasswordFile != "" {
			env = append(env, p+"SASL_PASSWORD_FILE="+c.SASL.PasswordFile)
		} else {
			env = append(env, p+"SASL_PASSWORD="+c.SASL.Password)
		}
	}
	return env
}

// JavaClientProps renders a client config as Java Kafka client properties
// (for ProducerPerformance and MirrorMaker 2).
func JavaClientProps(c bus.Config) (map[string]string, error) {
	props := map[string]string{"bootstrap.servers": strings.Join(c.Brokers, ","), "security.protocol": SecurityProtocol(c)}
	if c.TLS.Enabled {
		if c.TLS.CAFile != "" {
			props["ssl.truststore.type"] = "PEM"
			props["ssl.truststore.location"] = c.TLS.CAFile
		}
		if c.TLS.CertFile != "" {
			return nil, errors.New("java client properties: TLS client certificates are not supported by the harness")
		}
		if c.TLS.InsecureSkipVerify {
			props["ssl.endpoint.identification.algorithm"] = ""
		}
	}
	if c.SASL.Mechanism != "" {
		pw, err := SASLPassword(c)
		if err != nil {
			return nil, err
		}
		module := "org.apache.kafka.common.security.plain.PlainLoginModule"
		if strings.HasPrefix(c.SASL.Mechanism, "SCRAM") {
			module = "org.apache.kafka.common.security.scram.ScramLoginModule"
		}
		props["sasl.mechanism"] = c.SASL.Mechanism
		props["sasl.jaas.config"] = fmt.Sprintf("%s required username=%s password=%s;", module,
			strconv.Quote(c.SASL.Username), strconv.Quote(pw))
	}
	return props, nil
}

// SecurityProtocol is the Kafka security.protocol of a client config:
// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
func SecurityProtocol(c bus.Config) string {
	switch {
	case c.TLS.Enabled && c.SASL.Mechanism != "":
		return "SASL_SSL"
	case c.TLS.Enabled:
		return "SSL"
	case c.SASL.Mechanism != "":
		return "SASL_PLAINTEXT"
	}
	return "PLAINTEXT"
}

// SASLPassword is the SASL password of a client config: its password
// file's content without surrounding space when set, else Password.
func SASLPassword(c bus.Config) (string, error) {
	if c.SASL.PasswordFile == "" {
		return c.SASL.Password, nil
	}
	b, err := os.ReadFile(c.SASL.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("sasl password file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
