//go:build !(cgo && (amd64 || arm64)) || sensornode_noconfluent

package bus

import "fmt"

// confluent-kafka-go bundles librdkafka only for amd64 and arm64 and needs
// cgo; elsewhere (32-bit ARM, CGO_ENABLED=0) this backend is absent.
const confluentBuilt = false

func errConfluent() error {
	return fmt.Errorf("%w: %q (needs cgo on amd64 or arm64; use %q)", ErrNoBackend, BackendConfluent, BackendFranz)
}

func newConfluentProducer(ProducerConfig, options) (Producer, error) { return nil, errConfluent() }
func newConfluentConsumer(ConsumerConfig, options) (Consumer, error) { return nil, errConfluent() }
func newConfluentAdmin(Config, options) (Admin, error)               { return nil, errConfluent() }
