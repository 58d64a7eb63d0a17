package bus

import (
	"fmt"
	"slices"
	"strings"
)

// Rebalance callbacks: with BlockRebalanceOnPoll, franz-go runs them only
// between Poll's AllowRebalance and the return of its PollRecords, so they
// run while the caller is inside Poll, as librdkafka's do.
func (fc *franzConsumer) onAssigned(m map[string][]int32) {
	parts := fromFranzMap(m)
	fc.mu.Lock()
	for _, tp := range parts {
		fc.assigned[tp] = true
		delete(fc.gone, tp.Topic) // the new topic: handed out and committed again
	}
	fc.mu.Unlock()
	fc.log.Info("partitions assigned", "partitions", fmt.Sprint(parts))
	if fc.reb.OnAssigned != nil {
		fc.reb.OnAssigned(parts)
	}
}

func (fc *franzConsumer) onRevoked(m map[string][]int32, lost bool) {
	fc.revoke(fromFranzMap(m), lost)
}

// revoke tells the caller that parts are no longer its own and forgets
// them. Only partitions still assigned are reported: those of a deleted
// topic were already revoked as lost (topicGone), and the rebalance that
// follows must not revoke them again as not lost, which would have the
// caller commit offsets of the old topic.
func (fc *franzConsumer) revoke(all []TopicPartition, lost bool) {
	fc.mu.Lock()
	parts := slices.DeleteFunc(slices.Clone(all), func(tp TopicPartition) bool { return !fc.assigned[tp] })
	fc.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	fc.log.Info("partitions revoked", "partitions", fmt.Sprint(parts), "lost", lost)
	if fc.reb.OnRevoked != nil {
		fc.reb.OnRevoked(parts, lost)
	}
	fc.dropAhead(parts)
	fc.mu.Lock()
	var unpause []TopicPartition
	for _, tp := range parts {
		if fc.paused[tp] {
			unpause = append(unpause, tp)
		}
		delete(fc.assigned, tp)
		delete(fc.paused, tp)
		delete(fc.position, tp)
		delete(fc.high, tp)
		delete(fc.low, tp)
	}
	fc.mu.Unlock()
	// Pausing is per assignment, as in librdkafka: a partition assigned
	// again starts unpaused.
	if len(unpause) > 0 {
		fc.cl.ResumeFetchPartitions(toFranzMap(unpause))
	}
}

// topicGone handles a topic deleted under the consumer, or deleted and
// created again: franz-go keeps the old topic ID and would fail its
// partitions with UNKNOWN_TOPIC_ID forever. Its partitions are revoked as
// lost, so the caller drops what it held of them and commits none of it
// (before Kafka 4.2 a commit goes by name and an old offset would land on
// the new topic, making the group skip its records); then franz-go forgets
// the topic and subscribes to it again, and the new topic is assigned
// through a rebalance and read from its committed offsets or its start.
func (fc *franzConsumer) topicGone(topic string) {
	fc.mu.Lock()
	if fc.gone[topic] {
		fc.mu.Unlock()
		return
	}
	fc.gone[topic] = true
	var parts []TopicPartition
	for tp := range fc.assigned {
		if tp.Topic == topic {
			parts = append(parts, tp)
		}
	}
	fc.mu.Unlock()
	sortParts(parts)
	fc.m.error("topic_recreated")
	fc.log.Warn("kafka consumer: topic deleted or recreated; its partitions are dropped as lost, nothing read from the old topic is committed, and the topic is subscribed again",
		"topic", topic, "partitions", fmt.Sprint(parts))
	fc.revoke(parts, true)
	fc.cl.PurgeTopicsFromClient(topic)
	if !fc.regex {
		fc.cl.AddConsumeTopics(topic)
	}
}

func fromFranzMap(m map[string][]int32) []TopicPartition {
	var out []TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	sortParts(out)
	return out
}

func toFranzMap(parts []TopicPartition) map[string][]int32 {
	m := make(map[string][]int32)
	for _, tp := range parts {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}

func sortParts(ps []TopicPartition) {
	slices.SortFunc(ps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}
