package devstack

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// kafkaConfig is a librdkafka configuration for the stack's own probes:
// quiet, since failures are reported by the checks themselves.
func kafkaConfig(bootstrap string, extra map[string]string) *kafka.ConfigMap {
	cm := &kafka.ConfigMap{
		"bootstrap.servers":        bootstrap,
		"client.id":                "devstack",
		"log_level":                0,
		"socket.timeout.ms":        10000,
		"reconnect.backoff.max.ms": 1000,
	}
	for k, v := range extra {
		(*cm)[k] = v
	}
	return cm
}

func withAdmin(bootstrap string, extra map[string]string, f func(*kafka.AdminClient) error) error {
	a, err := kafka.NewAdminClient(kafkaConfig(bootstrap, extra))
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}

// probeTopic creates and deletes a topic.
func probeTopic(ctx context.Context, a *kafka.AdminClient, rf int) error {
	name := "devstack-probe-" + randomHex(6)
	res, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: 1, ReplicationFactor: rf}},
		kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("create probe topic: %w", err)
	}
	if err := topicResultErr(res); err != nil {
		return fmt.Errorf("create probe topic: %w", err)
	}
	res, err = a.DeleteTopics(ctx, []string{name}, kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	if err := topicResultErr(res); err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	return nil
}

func topicResultErr(res []kafka.TopicResult) error {
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("%s: %w", r.Topic, r.Error)
		}
	}
	return nil
}

// ensureOffsetsTopic makes the broker create __consumer_offsets now, while
// every broker is up (a group lookup creates it), so that consumer groups
// also work later with a broker down.
func ensureOffsetsTopic(ctx context.Context, a *kafka.AdminClient) error {
	res, err := a.DescribeConsumerGroups(ctx, []string{"devstack-probe"})
	if err != nil {
		return fmt.Errorf("consumer group coordinator: %w", err)
	}
	for _, d := range res.ConsumerGroupDescriptions {
		if d.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("consumer group coordinator: %w", d.Error)
		}
	}
	return nil
}

// checkEdgeTopic creates and deletes an RF-3 topic on the edge cluster and
// checks the group coordinator.
func (s *Stack) checkEdgeTopic(ctx context.Context, st *state) error {
	err := withAdmin(st.layout().EdgeBootstrap(), nil, func(a *kafka.AdminClient) error {
		if err := probeTopic(ctx, a, 3); err != nil {
			return err
		}
		return ensureOffsetsTopic(ctx, a)
	})
	if err != nil {
		return &CheckError{Err: fmt.Errorf("edge kafka: %w", err)}
	}
	return nil
}

// checkInSync requires broker id to be in the ISR of every partition it
// hosts, and a metadata round trip through its own listener.
func checkInSync(ctx context.Context, own, bootstrap string, id int32) error {
	err := withAdmin(own, nil, func(a *kafka.AdminClient) error {
		md, err := a.GetMetadata(nil, false, timeoutMS(ctx, 10*time.Second))
		if err != nil {
			return fmt.Errorf("metadata from %s: %w", own, err)
		}
		if !slices.ContainsFunc(md.Brokers, func(b kafka.BrokerMetadata) bool { return b.ID == id }) {
			return fmt.Errorf("broker %d not in metadata from %s", id, own)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return withAdmin(bootstrap, nil, func(a *kafka.AdminClient) error {
		md, err := a.GetMetadata(nil, true, timeoutMS(ctx, 10*time.Second))
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				if slices.Contains(p.Replicas, id) && !slices.Contains(p.Isrs, id) {
					return fmt.Errorf("broker %d not yet in the ISR of %s-%d (isr %v)", id, t.Topic, p.ID, p.Isrs)
				}
			}
		}
		return nil
	})
}

func timeoutMS(ctx context.Context, limit time.Duration) int {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < limit {
			limit = d
		}
	}
	return int(max(limit, time.Millisecond).Milliseconds())
}

// cloudSecureConfig is the librdkafka configuration of the SASL_SSL
// listener.
func cloudSecureConfig(st *state, caFile string) map[string]string {
	return map[string]string{
		"security.protocol": "SASL_SSL",
		"sasl.mechanisms":   "SCRAM-SHA-512",
		"sasl.username":     st.SCRAMUser,
		"sasl.password":     st.SCRAMPass,
		"ssl.ca.location":   caFile,
	}
}

// ensureSCRAMUser creates or updates the SCRAM-SHA-512 user through the
// PLAINTEXT listener (credentials live in ZooKeeper under /cloud).
func (s *Stack) ensureSCRAMUser(ctx context.Context, st *state) error {
	err := withAdmin(addr(st.layout().CloudPlaintext()), nil, func(a *kafka.AdminClient) error {
		res, err := a.AlterUserScramCredentials(ctx, []kafka.UserScramCredentialUpsertion{{
			User:                st.SCRAMUser,
			ScramCredentialInfo: kafka.ScramCredentialInfo{Mechanism: kafka.ScramMechanismSHA512, Iterations: 8192},
			Password:            []byte(st.SCRAMPass),
		}}, nil)
		if err != nil {
			return err
		}
		if e, ok := res.Errors[st.SCRAMUser]; ok && e.Code() != kafka.ErrNoError {
			return e
		}
		return nil
	})
	return checkErr(CloudKafkaName, err)
}

// checkCloud needs a metadata round trip on PLAINTEXT and a topic created
// and deleted through SASL_SSL as the SCRAM user.
func (s *Stack) checkCloud(ctx context.Context, st *state) error {
	l := st.layout()
	err := withAdmin(addr(l.CloudPlaintext()), nil, func(a *kafka.AdminClient) error {
		_, err := a.GetMetadata(nil, false, timeoutMS(ctx, 10*time.Second))
		return err
	})
	if err != nil {
		return &CheckError{Process: CloudKafkaName, Err: fmt.Errorf("plaintext metadata: %w", err)}
	}
	err = withAdmin(addr(l.CloudSASLSSL()), cloudSecureConfig(st, newTLSPaths(st.Dir).CACert), func(a *kafka.AdminClient) error {
		return probeTopic(ctx, a, 1)
	})
	if err != nil {
		return &CheckError{Process: CloudKafkaName, Err: fmt.Errorf("sasl_ssl: %w", err)}
	}
	return nil
}
