package forwarder

import (
	"log/slog"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
)

// condTopics is the readiness condition of SENSORNODE_CREATE_TOPICS: met
// once the topics were ensured.
const condTopics = "cloud-topics"

// newTopicCreator wires bus.TopicCreator to this service's readiness and
// sensornode_*_topic_errors_total{op="create"}.
func newTopicCreator(specs []bus.TopicSpec, newAdmin func() (bus.Admin, error), probe *svc.Probe, m *Metrics,
	log *slog.Logger, backoffMax time.Duration) *bus.TopicCreator {
	failures := m.topicErrors.WithLabelValues("create")
	return &bus.TopicCreator{
		Specs:    specs,
		NewAdmin: newAdmin,
		Report: func(err error) {
			probe.Set(condTopics, err)
			if err != nil {
				failures.Inc()
			}
		},
		Log:     log,
		Backoff: svc.Backoff{Min: time.Second, Max: backoffMax},
	}
}
