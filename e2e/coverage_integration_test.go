//go:build integration

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/e2e/chaos"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// coverReadTimeout bounds reading the committed cloud records and the
// dead-letter topics back.
const coverReadTimeout = 2 * time.Minute

// uncovered names the committed cloud records that stored (what HDFS
// holds, read with data) does not cover (chaos.Cover): every record of
// the cloud picture and temperature topics from its partition's log start
// up to the ingest group's committed offset, matched against the pictures
// and readings in HDFS and dead, the records of both cloud dead-letter
// topics (deadLetters). Read with a plain consumer (assigned partitions,
// nothing committed).
func (e *env) uncovered(t *testing.T, stored hdfsContent, dead []chaos.DeadLetter) []string {
	t.Helper()
	upTo := map[bus.TopicPartition]int64{}
	for tp, off := range committed(t, e.st.CloudBootstrap(), e.prefix+"-ingest") {
		if tp.Topic == e.cloudPic || tp.Topic == e.cloudTemp {
			upTo[tp] = off
		}
	}
	var recs []chaos.Record
	var problems []string
	problems = append(problems, e.readCloud(t, upTo, func(m *kafka.Message) {
		recs = append(recs, chaos.RecordOf(position(m), m.Key, m.Value, headersOf(m)))
	})...)
	t.Logf("coverage: %d committed cloud records in %d partitions, %d dead letters", len(recs), len(upTo), len(dead))
	return append(problems, chaos.Cover(recs, stored.pictures, stored.readings, dead)...)
}

// deadLetters reads both cloud dead-letter topics to their end, once:
// every dead letter (for uncovered), and the reason (sn-dlq-reason) of
// each by its original value's id, the text before the first ':' (the
// chaos workload's malformed messages are "<id>:..."). What it could not
// read comes back as uncovered entries.
func (e *env) deadLetters(t *testing.T) (dead []chaos.DeadLetter, reasonByID map[string]string, problems []string) {
	t.Helper()
	reasonByID = map[string]string{}
	problems = e.readCloud(t, e.toEnd(t, messages.DeadLetterTopic(e.cloudPic), messages.DeadLetterTopic(e.cloudTemp)), func(m *kafka.Message) {
		hs := headersOf(m)
		dead = append(dead, chaos.DeadLetterOf(m.Value, hs))
		reason, _ := messages.HeaderValue(hs, messages.HeaderDLQReason)
		id, _, _ := strings.Cut(string(m.Value), ":")
		reasonByID[id] = string(reason)
	})
	return dead, reasonByID, problems
}

// toEnd is every partition of topics, each to be read to its end (-1).
func (e *env) toEnd(t *testing.T, topics ...string) map[bus.TopicPartition]int64 {
	t.Helper()
	a := e.admin(t, e.st.CloudBootstrap())
	defer a.Close()
	out := map[bus.TopicPartition]int64{}
	for _, topic := range topics {
		md, err := a.GetMetadata(&topic, false, 10_000)
		if err != nil {
			t.Logf("coverage: metadata of %s: %v", topic, err)
			continue
		}
		for _, p := range md.Topics[topic].Partitions {
			out[bus.TopicPartition{Topic: topic, Partition: p.ID}] = -1
		}
	}
	return out
}

// readCloud hands fn every record of the cloud partitions in upTo from the
// partition's log start up to (not including) the offset upTo gives, -1
// meaning its end now. It returns what it could not read, as uncovered
// entries.
func (e *env) readCloud(t *testing.T, upTo map[bus.TopicPartition]int64, fn func(*kafka.Message)) []string {
	t.Helper()
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": e.st.CloudBootstrap(), "group.id": e.prefix + "-coverage-reader",
		"enable.auto.commit": false, "enable.partition.eof": true, "log_level": 3})
	if err != nil {
		return []string{fmt.Sprintf("coverage reader: %v", err)}
	}
	defer cons.Close()
	var problems []string
	next := map[bus.TopicPartition]int64{} // partitions still being read: next offset wanted
	end := map[bus.TopicPartition]int64{}
	var assign []kafka.TopicPartition
	for tp, to := range upTo {
		low, high, err := cons.QueryWatermarkOffsets(tp.Topic, tp.Partition, 10_000)
		if err != nil {
			problems = append(problems, fmt.Sprintf("coverage: watermarks of %s: %v", tp, err))
			continue
		}
		if to < 0 || to > high {
			to = high
		}
		if low >= to {
			continue
		}
		next[tp], end[tp] = low, to
		assign = append(assign, kafka.TopicPartition{Topic: &tp.Topic, Partition: tp.Partition, Offset: kafka.Offset(low)})
	}
	if len(assign) > 0 {
		if err := cons.Assign(assign); err != nil {
			return append(problems, fmt.Sprintf("coverage: assign %d partitions: %v", len(assign), err))
		}
	}
	deadline := time.Now().Add(coverReadTimeout)
	for len(next) > 0 && time.Now().Before(deadline) {
		switch ev := cons.Poll(500).(type) {
		case *kafka.Message:
			tp := bus.TopicPartition{Topic: *ev.TopicPartition.Topic, Partition: ev.TopicPartition.Partition}
			off := int64(ev.TopicPartition.Offset)
			if _, reading := next[tp]; !reading || off >= end[tp] {
				continue
			}
			fn(ev)
			next[tp] = off + 1
			if off+1 >= end[tp] {
				delete(next, tp)
			}
		case kafka.PartitionEOF:
			// Nothing more to read (an offset below the end that is no
			// record: a transaction marker).
			delete(next, bus.TopicPartition{Topic: *ev.Topic, Partition: ev.Partition})
		case kafka.Error:
			t.Logf("coverage reader: %v", ev)
		}
	}
	left := make([]string, 0, len(next))
	for tp, off := range next {
		left = append(left, fmt.Sprintf("coverage: %s read only up to offset %d of %d within %v", tp, off, end[tp], coverReadTimeout))
	}
	sort.Strings(left)
	return append(problems, left...)
}

func position(m *kafka.Message) chaos.Position {
	return chaos.Position{Topic: *m.TopicPartition.Topic, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}
}

func headersOf(m *kafka.Message) []messages.Header {
	hs := make([]messages.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = messages.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}
