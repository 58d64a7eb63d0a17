//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type confluentAdmin struct {
	a *kafka.AdminClient
}

func newConfluentAdmin(cfg Config, _ options) (*confluentAdmin, error) {
	m, err := commonConfluent(cfg)
	if err != nil {
		return nil, err
	}
	// The admin client cannot forward its logs to a channel, and its
	// failures reach the caller as errors anyway: keep librdkafka's raw
	// stderr lines (connection refused, ...) to critical ones.
	m["log_level"] = 2
	a, err := kafka.NewAdminClient(&m)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	return &confluentAdmin{a: a}, nil
}

func (ca *confluentAdmin) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	ts := make([]kafka.TopicSpecification, len(specs))
	for i, s := range specs {
		ts[i] = kafka.TopicSpecification{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Config: s.Config}
	}
	res, err := ca.a.CreateTopics(ctx, ts, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			errs = append(errs, fmt.Errorf("create topic %s: %w", r.Topic, r.Error))
		}
	}
	return errors.Join(errs...)
}

func (ca *confluentAdmin) TopicConfig(ctx context.Context, topic string) (map[string]string, error) {
	res, err := ca.a.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("describe topic %s: %d results", topic, len(res))
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return nil, fmt.Errorf("describe topic %s: %w", topic, classify(res[0].Error))
	}
	out := map[string]string{}
	for k, v := range res[0].Config {
		out[k] = v.Value
	}
	return out, nil
}

func (ca *confluentAdmin) Partitions(ctx context.Context, topic string) (int, error) {
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	t := topic
	md, err := ca.a.GetMetadata(&t, false, int(timeout/time.Millisecond))
	if err != nil {
		return 0, fmt.Errorf("metadata %s: %w", topic, err)
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError {
		return 0, fmt.Errorf("topic %s: %w", topic, ErrUnknownTopic)
	}
	return len(tm.Partitions), nil
}

func (ca *confluentAdmin) Close() error {
	ca.a.Close()
	return nil
}

var _ Admin = (*confluentAdmin)(nil)
