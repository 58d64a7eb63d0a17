//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// RaiseFatalForTest raises a fake librdkafka fatal error (an idempotence
// failure, as librdkafka raises for a sequence it cannot reconstruct) in
// the client instance p uses now; p must be a confluent producer.
func RaiseFatalForTest(p Producer, reason string) error {
	cp, ok := p.(*confluentProducer)
	if !ok {
		return fmt.Errorf("RaiseFatalForTest: %T is not a confluent producer", p)
	}
	inst := cp.current()
	if inst == nil {
		return fmt.Errorf("RaiseFatalForTest: no instance in service")
	}
	return inst.use(func(p *kafka.Producer) error {
		if code := p.TestFatalError(kafka.ErrOutOfOrderSequenceNumber, reason); code != kafka.ErrNoError {
			return kafka.NewError(code, "TestFatalError", false)
		}
		return nil
	})
}
