package bus_test

import (
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
)

// bustestEnv is a fresh bustest cluster (create it inside the test's
// synctest bubble).
func bustestEnv() *env {
	cl := bustest.NewCluster()
	names := 0
	createTopic := func(t testing.TB, name string, partitions int) {
		t.Helper()
		if err := cl.CreateTopic(name, partitions, nil); err != nil {
			t.Fatal(err)
		}
	}
	return &env{
		cfg: bus.Config{ClientID: "conformance-bustest"},
		newProducer: func(cfg bus.ProducerConfig, _ ...bus.Option) (bus.Producer, error) {
			return cl.NewProducer(cfg)
		},
		newConsumer: func(cfg bus.ConsumerConfig, _ ...bus.Option) (bus.Consumer, error) {
			return cl.NewConsumer(cfg)
		},
		newAdmin: func(bus.Config, ...bus.Option) (bus.Admin, error) { return cl.NewAdmin(), nil },
		unique: func(_ testing.TB, prefix string) string {
			names++
			return fmt.Sprintf("%s-%d", prefix, names)
		},
		createTopic: createTopic,
		deleteTopic: func(testing.TB, string) {}, // the cluster goes with the test
		recreateTopic: func(t testing.TB, name string, partitions int) {
			t.Helper()
			if err := cl.DeleteTopic(name); err != nil {
				t.Fatal(err)
			}
			createTopic(t, name, partitions)
		},
	}
}

// The conformance subtests that need no broker fault, against bustest: it
// behaves as the real backends do (conformance_integration_test.go runs
// the same subtests against them). Inside synctest bubbles, the waits cost
// no time.
func TestConformanceBustest(t *testing.T) {
	for _, ct := range conformanceTests {
		t.Run(ct.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { ct.run(t, bustestEnv()) })
		})
	}
}
