//go:build integration

package devstack_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
	"github.com/sensornode/sensornode/tools/devstack/faultproxy"
)

// TestIntegrationCloudSecureAndProxied produces through the cloud
// cluster's SASL_SSL listener as the SCRAM user, refuses a wrong password,
// and consumes through a faultproxy in front of the PROXIED listener that
// can be cut and restored.
func TestIntegrationCloudSecureAndProxied(t *testing.T) {
	const n = 10
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "cloud")
	secure := st.CloudSecureConfig()
	secure["bootstrap.servers"] = st.CloudSecureBootstrap()
	devstacktest.CreateTopicWith(t, secure, topic, 1, 1)

	cm := kafka.ConfigMap{"acks": "all"}
	for k, v := range secure {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reports := make(chan kafka.Event, n)
	for i := range n {
		if err := p.Produce(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Value:          fmt.Appendf(nil, "picture %d", i),
		}, reports); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		select {
		case e := <-reports:
			if m := e.(*kafka.Message); m.TopicPartition.Error != nil {
				t.Fatalf("delivery over SASL_SSL: %v", m.TopicPartition.Error)
			}
		case <-time.After(time.Minute):
			t.Fatal("no delivery report over SASL_SSL for a minute")
		}
	}

	wrong := maps.Clone(secure)
	wrong["sasl.password"] = "not-" + st.SCRAMPassword()
	if err := metadata(wrong); err == nil {
		t.Errorf("metadata with a wrong SCRAM password succeeded")
	}

	// The PROXIED listener advertises one fixed port: one proxy at a time.
	devstacktest.Exclusive(t, st)
	proxy, err := faultproxy.New(st.CloudProxiedBootstrap(), st.CloudProxiedTarget())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := map[string]string{"bootstrap.servers": st.CloudProxiedBootstrap()}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": st.CloudProxiedBootstrap(), "group.id": topic, "enable.auto.commit": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m, err := c.ReadMessage(30 * time.Second)
		if err != nil {
			t.Fatalf("consume %d through the proxy: %v", i, err)
		}
		if want := fmt.Sprintf("picture %d", i); string(m.Value) != want {
			t.Errorf("message %d = %q, want %q", i, m.Value, want)
		}
	}

	proxy.Cut()
	if err := metadata(viaProxy); err == nil {
		t.Errorf("metadata through a cut proxy succeeded")
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := metadata(viaProxy); err != nil {
		t.Errorf("metadata through a restored proxy: %v", err)
	}
}

// metadata makes a fresh client and asks for cluster metadata.
func metadata(config map[string]string) error {
	cm := kafka.ConfigMap{"log_level": 0}
	for k, v := range config {
		cm[k] = v
	}
	a, err := kafka.NewAdminClient(&cm)
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = a.GetMetadata(nil, false, 5000)
	return err
}
