package bus

import (
	"encoding/json"
	"fmt"
)

// rdkafkaStats is the part of librdkafka's statistics JSON
// (statistics.interval.ms; see librdkafka's STATISTICS.md) that the
// buffered gauges need.
type rdkafkaStats struct {
	Type    string `json:"type"`     // "producer" or "consumer"
	MsgCnt  int64  `json:"msg_cnt"`  // messages in producer queues, until their delivery report
	MsgSize int64  `json:"msg_size"` // their total size
	Topics  map[string]struct {
		Partitions map[string]struct {
			FetchqCnt  int64 `json:"fetchq_cnt"`  // pre-fetched messages in the fetch queue
			FetchqSize int64 `json:"fetchq_size"` // their bytes
		} `json:"partitions"`
	} `json:"topics"`
}

// rdkafkaBuffered reads the messages and bytes a librdkafka client holds
// from its statistics: a producer's msg_cnt and msg_size; for a consumer,
// its fetch queue.
//
// A consumer-group member's partition fetch queues are all forwarded to
// the one consumer queue, and librdkafka reports a forwarded queue's
// length as its destination's (rd_kafka_q_len follows the forward): every
// assigned partition's fetchq_cnt is the whole consumer queue. Summing
// them would count the queue once per partition, so the consumer figure is
// the largest partition's, which is the queue's.
func rdkafkaBuffered(js []byte) (msgs, bytes int64, err error) {
	var s rdkafkaStats
	if err := json.Unmarshal(js, &s); err != nil {
		return 0, 0, fmt.Errorf("librdkafka statistics: %w", err)
	}
	msgs, bytes = s.MsgCnt, s.MsgSize
	if s.Type != "consumer" {
		return msgs, bytes, nil
	}
	var qc, qs int64
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			qc, qs = max(qc, p.FetchqCnt), max(qs, p.FetchqSize)
		}
	}
	return msgs + qc, bytes + qs, nil
}
