package devstacktest

import (
	"os"
	"testing"

	"github.com/sensornode/sensornode/libs/bus"
)

// EnvKafkaBackend names the Kafka backend the integration suites test
// (make test-integration-franz sets franz); unset: libs/bus's default.
const EnvKafkaBackend = "SENSORNODE_TEST_KAFKA_BACKEND"

// KafkaBackend is the Kafka backend under test ($SENSORNODE_TEST_KAFKA_BACKEND).
func KafkaBackend() string { return os.Getenv(EnvKafkaBackend) }

// Admin is a libs/bus admin client of the cluster at bootstrap on the
// backend under test, closed when the test ends.
func Admin(tb testing.TB, bootstrap, clientID string) bus.Admin {
	tb.Helper()
	a, err := bus.NewAdmin(bus.Config{Brokers: []string{bootstrap}, ClientID: clientID, Backend: KafkaBackend()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}
