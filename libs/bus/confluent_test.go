//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func checkConfigMap(t *testing.T, m kafka.ConfigMap, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := m[k]
		switch {
		case v == "<absent>" && ok:
			t.Errorf("%s = %v, want it unset", k, got)
		case v != "<absent>" && fmt.Sprint(got) != v:
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
}

func TestConfluentCommonConfig(t *testing.T) {
	tests := []struct {
		name string
		give Config
		want map[string]string
	}{
		{"plaintext", Config{Brokers: []string{"a:1", "b:2"}, ClientID: "c"}, map[string]string{
			"bootstrap.servers": "a:1,b:2", "client.id": "c", "security.protocol": "PLAINTEXT",
			"sasl.mechanisms": "<absent>", "ssl.ca.location": "<absent>",
			"metadata.recovery.rebootstrap.trigger.ms": "10000",
		}},
		{"tls", Config{Brokers: []string{"a:1"}, TLS: TLSConfig{Enabled: true, CAFile: "/ca", CertFile: "/c", KeyFile: "/k"}}, map[string]string{
			"security.protocol": "SSL", "ssl.ca.location": "/ca", "ssl.certificate.location": "/c", "ssl.key.location": "/k",
			"ssl.endpoint.identification.algorithm": "https",
		}},
		{"tls no verify", Config{Brokers: []string{"a:1"}, TLS: TLSConfig{Enabled: true, InsecureSkipVerify: true}}, map[string]string{
			"enable.ssl.certificate.verification": "false", "ssl.endpoint.identification.algorithm": "none",
		}},
		{"sasl_ssl scram", Config{Brokers: []string{"a:1"}, TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}, map[string]string{
			"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "p",
		}},
		{"sasl_plaintext plain", Config{Brokers: []string{"a:1"}, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}}, map[string]string{
			"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := commonConfluent(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			checkConfigMap(t, m, tt.want)
		})
	}
	if _, err := commonConfluent(Config{Brokers: []string{"a:1"}, TLS: TLSConfig{Enabled: true, ServerName: "x"}}); err == nil {
		t.Errorf("commonConfluent with a TLS server name = nil error, want one: librdkafka cannot override it")
	}
}

func TestConfluentProducerConfig(t *testing.T) {
	base := ProducerConfig{Config: Config{Brokers: []string{"a:1"}}, Linger: 5 * time.Millisecond,
		MaxMessageBytes: 8 << 20, QueueMaxBytes: 16 << 20, DeliveryTimeout: 2 * time.Minute}
	tests := []struct {
		name string
		give func(*ProducerConfig)
		want map[string]string
	}{
		{"defaults", func(*ProducerConfig) {}, map[string]string{
			"acks": "all", "enable.idempotence": "true", "linger.ms": "5",
			"message.max.bytes": fmt.Sprint(8<<20 + 64*1024), "queue.buffering.max.kbytes": fmt.Sprint(16 << 10),
			"message.timeout.ms": "120000", "compression.type": "none", "partitioner": "murmur2_random",
			"queue.buffering.max.messages": "10000", "go.delivery.report.fields": "none",
		}},
		{"queue of 500 messages", func(c *ProducerConfig) { c.QueueMaxMessages = 500 }, map[string]string{"queue.buffering.max.messages": "500"}},
		{"retry forever", func(c *ProducerConfig) { c.DeliveryTimeout = 0 }, map[string]string{"message.timeout.ms": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.give(&cfg)
			m, err := confluentProducerConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkConfigMap(t, m, tt.want)
		})
	}
}

func TestConfluentConsumerConfig(t *testing.T) {
	base := ConsumerConfig{Config: Config{Brokers: []string{"a:1"}}, GroupID: "g", Topics: []string{"t"},
		MaxFetchBytes: 8 << 20, QueueMaxBytes: 16 << 20, SessionTimeout: 10 * time.Second}
	tests := []struct {
		name string
		give func(*ConsumerConfig)
		want map[string]string
	}{
		{"defaults", func(*ConsumerConfig) {}, map[string]string{
			"group.id": "g", "enable.auto.commit": "false", "enable.auto.offset.store": "false",
			"auto.offset.reset": "earliest", "isolation.level": "read_committed",
			"session.timeout.ms": "10000", "heartbeat.interval.ms": "2500",
			"max.partition.fetch.bytes": fmt.Sprint(8 << 20), "fetch.max.bytes": fmt.Sprint(16 << 20),
			"queued.max.messages.kbytes": fmt.Sprint(16 << 10), "receive.message.max.bytes": fmt.Sprint(100 << 20), "partition.assignment.strategy": "range,roundrobin",
		}},
		{"latest", func(c *ConsumerConfig) { c.FromLatest = true }, map[string]string{"auto.offset.reset": "latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.give(&cfg)
			m, err := confluentConsumerConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkConfigMap(t, m, tt.want)
		})
	}
}
