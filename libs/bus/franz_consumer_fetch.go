package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensornode/sensornode/libs/messages"
)

// Poll hands out one record at a time from a fetch taken whole from
// franz-go (ahead). franz-go fetches a broker's partitions again only once
// its buffered fetch is drained entirely: taken one record at a time, the
// next fetch would be sent only after the caller processed the last record
// of this one, and the caller would wait for the broker's response (and
// the transfer of up to a fetch's bytes) every fetch. Taken whole, the next
// fetch is in flight while the caller processes this one. Memory stays
// about QueueMaxBytes (franzConsumerOpts counts ahead as one fetch).
// Records held ahead are dropped when their partition is revoked, paused
// (and sought back to, so fetched again on resume) or sought.
func (fc *franzConsumer) Poll(ctx context.Context, maxWait time.Duration) (*Message, error) {
	if fc.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The caller is done with the previous message: rebalances may run.
	fc.cl.AllowRebalance()
	if fc.hasAhead() {
		// A rebalance waiting for AllowRebalance runs to its end inside
		// this call (its callbacks drop what is ahead of revoked
		// partitions); a canceled context takes no record.
		fc.cl.PollRecords(canceled, 1)
		if m := fc.next(); m != nil {
			return m, nil
		}
	}
	// Fast path: a buffered fetch, no timer. A nil context is franz-go's
	// documented way to take only what is buffered, without waiting.
	//lint:ignore SA1012 see above
	if m, err := fc.take(fc.cl.PollRecords(nil, -1)); m != nil || err != nil {
		return m, err
	}
	pctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	for {
		fc.cl.AllowRebalance() // nothing handed out since
		m, err := fc.take(fc.cl.PollRecords(pctx, -1))
		if m != nil || err != nil {
			return m, err
		}
		if pctx.Err() != nil {
			return nil, ctx.Err() // nil after maxWait
		}
	}
}

// canceled is a done context: PollRecords with it waits for a rebalance
// under way and takes nothing.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// aheadSize is the records ahead and their bytes (keys, values and
// headers, as franz-go counts its buffered bytes).
func (fc *franzConsumer) aheadSize() (n, bytes int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, r := range fc.ahead {
		bytes += int64(len(r.Key) + len(r.Value))
		for _, h := range r.Headers {
			bytes += int64(len(h.Key) + len(h.Value))
		}
	}
	return int64(len(fc.ahead)), bytes
}

func (fc *franzConsumer) hasAhead() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.ahead) > 0
}

// next hands out the first record ahead (nil: none).
func (fc *franzConsumer) next() *Message {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.ahead) == 0 {
		return nil
	}
	rec := fc.ahead[0]
	fc.ahead[0] = nil
	fc.ahead = fc.ahead[1:]
	if len(fc.ahead) == 0 {
		fc.ahead = nil
	}
	fc.position[TopicPartition{Topic: rec.Topic, Partition: rec.Partition}] = rec.Offset + 1
	return fromFranzRecord(rec)
}

// dropAhead removes the records ahead of parts and returns the first
// offset dropped of each (those not dropped are not in the map).
func (fc *franzConsumer) dropAhead(parts []TopicPartition) map[TopicPartition]int64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.ahead) == 0 {
		return nil
	}
	first := map[TopicPartition]int64{}
	fc.ahead = slices.DeleteFunc(fc.ahead, func(r *kgo.Record) bool {
		tp := TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if !slices.Contains(parts, tp) {
			return false
		}
		if _, ok := first[tp]; !ok {
			first[tp] = r.Offset
		}
		return true
	})
	return first
}

// take keeps the records in fetches ahead and hands out the first, handling
// the errors franz-go injects: an authorization failure is returned (permanent,
// ErrNotAuthorized), a closed client is ErrClosed, all others are logged
// and counted, and the client retries by itself.
func (fc *franzConsumer) take(fetches kgo.Fetches) (*Message, error) {
	var (
		closed bool
		denied error
		gone   []string
	)
	fetches.EachError(func(topic string, partition int32, err error) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, kgo.ErrClientClosed):
			closed = true
		case isFranzAuthz(err):
			// Retrying cannot help until an operator changes the ACLs:
			// the caller must know, as librdkafka tells the confluent
			// backend's (franz-go would retry forever, silently).
			fc.m.error("fetch")
			if denied == nil {
				denied = fmt.Errorf("consume %s[%d]: %w", topic, partition, notAuthorized(err))
			}
		case errors.Is(err, kerr.UnknownTopicID), errors.Is(err, kerr.InconsistentTopicID):
			// franz-go reports this only after repeated fetches failed
			// with it: the topic was deleted, or deleted and created again
			// under a new ID, which franz-go deliberately never adopts.
			fc.m.error("fetch")
			if !slices.Contains(gone, topic) {
				gone = append(gone, topic)
			}
		default:
			kind := "fetch"
			var ge *kgo.ErrGroupSession
			if errors.As(err, &ge) {
				kind = "group"
			}
			fc.m.error(kind)
			fc.log.Warn("kafka consumer error", "kind", kind, "topic", topic, "partition", partition, "err", err)
		}
	})
	if closed {
		return nil, ErrClosed
	}
	if denied != nil {
		return nil, denied
	}
	for _, topic := range gone {
		fc.topicGone(topic)
	}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			return
		}
		tp := TopicPartition{Topic: p.Topic, Partition: p.Partition}
		fc.mu.Lock()
		if fc.gone[p.Topic] {
			fc.mu.Unlock()
			return // buffered from the deleted topic: it no longer exists
		}
		hi := p.LastStableOffset
		if hi < 0 {
			hi = p.HighWatermark
		}
		if hi >= 0 {
			fc.high[tp] = hi
		}
		if p.LogStartOffset >= 0 {
			fc.low[tp] = p.LogStartOffset
		}
		fc.ahead = append(fc.ahead, p.Records...)
		fc.mu.Unlock()
	})
	return fc.next(), nil
}

func fromFranzRecord(r *kgo.Record) *Message {
	m := &Message{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]messages.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = messages.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}
