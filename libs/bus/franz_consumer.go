package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sensornode/sensornode/libs/messages"
)

type franzConsumer struct {
	cl     *kgo.Client
	log    *slog.Logger
	m      *Metrics
	reb    Rebalance
	regex  bool // Topics has a pattern: franz-go rediscovers a purged topic itself
	closed atomic.Bool
	// stopStats ends the buffered gauges' refresh.
	stopStats func()

	mu       sync.Mutex
	assigned map[TopicPartition]bool
	paused   map[TopicPartition]bool
	position map[TopicPartition]int64 // next offset to hand out
	high     map[TopicPartition]int64 // last stable offset (read_committed high watermark)
	low      map[TopicPartition]int64 // log start offset
	// gone: topics deleted (or deleted and recreated) under the consumer,
	// from their detection until their partitions are assigned again.
	// Nothing of them is handed out or committed meanwhile.
	gone map[string]bool
	// ahead: the records of the last fetch taken from franz-go and not
	// handed out yet, in order (see Poll).
	ahead []*kgo.Record
}

// franzTopics maps Topics onto ConsumeTopics arguments and whether regex
// consumption is needed. franz-go's ConsumeRegex applies to every entry,
// so with any regex present, literal names become anchored quoted regexes.
func franzTopics(topics []string) ([]string, bool, error) {
	regex := slices.ContainsFunc(topics, func(t string) bool { return strings.HasPrefix(t, "^") })
	if !regex {
		return topics, false, nil
	}
	out := make([]string, len(topics))
	for i, t := range topics {
		if strings.HasPrefix(t, "^") {
			if _, err := regexp.Compile(t); err != nil {
				return nil, false, fmt.Errorf("topic pattern %q: %w", t, err)
			}
			out[i] = t
		} else {
			out[i] = "^" + regexp.QuoteMeta(t) + "$"
		}
	}
	return out, true, nil
}

// franzConsumerOpts maps a ConsumerConfig onto franz-go options (besides
// franzCommon's and the rebalance callbacks) and tells whether Topics has a
// pattern (see franzTopics).
func franzConsumerOpts(cfg ConsumerConfig) ([]kgo.Opt, bool, error) {
	topics, regex, err := franzTopics(cfg.Topics)
	if err != nil {
		return nil, false, err
	}
	start := kgo.NewOffset().AtStart()
	if cfg.FromLatest {
		start = kgo.NewOffset().AtEnd()
	}
	// Memory: at most `fetches` fetch responses in flight or buffered in
	// franz-go, and one taken whole and handed out record by record (see
	// Poll), each at most fetchBytes (plus one batch beyond it, as Kafka
	// allows), so about QueueMaxBytes in total.
	fetches := max(1, min(franzMaxConcurrent, cfg.QueueMaxBytes/cfg.MaxFetchBytes-1))
	fetchBytes := cfg.QueueMaxBytes / (fetches + 1)
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.GroupID),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.ConsumeStartOffset(start),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		// Eager range/roundrobin, as the confluent backend: members of
		// both backends can share a group.
		kgo.Balancers(kgo.RangeBalancer(), kgo.RoundRobinBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout / 4),
		kgo.FetchMaxWait(franzFetchMaxWait),
		kgo.FetchMaxPartitionBytes(int32(min(cfg.MaxFetchBytes, 1<<30))),
		kgo.FetchMaxBytes(int32(min(fetchBytes, 1<<30))),
		kgo.MaxConcurrentFetches(fetches),
		kgo.BrokerMaxReadBytes(int32(min(max(100<<20, fetchBytes+cfg.MaxFetchBytes+1<<20), 1<<30))),
		kgo.DisableClientMetrics(),
	}
	if regex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	return opts, regex, nil
}

func newFranzConsumer(cfg ConsumerConfig, o options) (*franzConsumer, error) {
	opts, err := franzCommon(cfg.Config, o)
	if err != nil {
		return nil, err
	}
	copts, regex, err := franzConsumerOpts(cfg)
	if err != nil {
		return nil, err
	}
	fc := &franzConsumer{
		log: o.log, m: o.metrics, reb: cfg.Rebalance, regex: regex,
		assigned: map[TopicPartition]bool{}, paused: map[TopicPartition]bool{},
		position: map[TopicPartition]int64{}, high: map[TopicPartition]int64{}, low: map[TopicPartition]int64{},
		gone: map[string]bool{},
	}
	opts = append(opts, copts...)
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onAssigned(m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onRevoked(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onRevoked(m, true) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	fc.cl = cl
	fc.stopStats = pollBuffered(o.metrics, o.statsInterval, func() (int64, int64) {
		n, b := fc.aheadSize()
		return cl.BufferedFetchRecords() + n, cl.BufferedFetchBytes() + b
	})
	return fc, nil
}

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

func (fc *franzConsumer) Commit(ctx context.Context, offsets []Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	// Offsets of a gone topic are refused (the first one named in the
	// error); the others are committed.
	var refused error
	fc.mu.Lock()
	gone := func(o Offset) bool { return fc.gone[o.Topic] }
	if i := slices.IndexFunc(offsets, gone); i >= 0 {
		o := offsets[i]
		refused = fmt.Errorf("commit %s at %d: %w: the topic was deleted or recreated since it was read; its old offsets are never committed",
			o.TopicPartition, o.Offset, ErrUnknownTopic)
		offsets = slices.DeleteFunc(slices.Clone(offsets), gone)
	}
	fc.mu.Unlock()
	if refused != nil {
		fc.m.error("commit")
		if len(offsets) == 0 {
			return refused
		}
	}
	m := map[string]map[int32]kgo.EpochOffset{}
	for _, o := range offsets {
		if m[o.Topic] == nil {
			m[o.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	var rerr error
	fc.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = fmt.Errorf("commit: %w", classifyFranz(err))
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && rerr == nil {
					rerr = fmt.Errorf("commit %s: %w", TopicPartition{Topic: t.Topic, Partition: p.Partition}, classifyFranz(err))
				}
			}
		}
	})
	if rerr != nil {
		fc.m.error("commit")
		return rerr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return refused
}

func (fc *franzConsumer) Pause(parts []TopicPartition) error {
	fc.mu.Lock()
	for _, tp := range parts {
		fc.paused[tp] = true
	}
	fc.mu.Unlock()
	// franz-go drops what it buffered of a paused partition without moving
	// its position, and fetches it again after Resume: nothing handed out
	// is lost or repeated, and order is kept. What it handed to us ahead
	// is dropped too, and its position set back to the first of it.
	fc.cl.PauseFetchPartitions(toFranzMap(parts))
	if back := fc.dropAhead(parts); len(back) > 0 {
		m := map[string]map[int32]kgo.EpochOffset{}
		for tp, o := range back {
			if m[tp.Topic] == nil {
				m[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			m[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		fc.cl.SetOffsets(m)
	}
	return nil
}

func (fc *franzConsumer) Resume(parts []TopicPartition) error {
	fc.mu.Lock()
	for _, tp := range parts {
		delete(fc.paused, tp)
	}
	fc.mu.Unlock()
	fc.cl.ResumeFetchPartitions(toFranzMap(parts))
	return nil
}

func (fc *franzConsumer) Seek(o Offset) error {
	tp := o.TopicPartition
	fc.mu.Lock()
	if !fc.assigned[tp] {
		fc.mu.Unlock()
		return fmt.Errorf("seek %s to %d: %w", tp, o.Offset, ErrNotAssigned)
	}
	fc.position[tp] = o.Offset
	fc.mu.Unlock()
	fc.dropAhead([]TopicPartition{tp})
	fc.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{o.Topic: {o.Partition: {Epoch: -1, Offset: o.Offset}}})
	return nil
}

func (fc *franzConsumer) Assignment() ([]TopicPartition, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make([]TopicPartition, 0, len(fc.assigned))
	for tp := range fc.assigned {
		out = append(out, tp)
	}
	sortParts(out)
	return out, nil
}

func (fc *franzConsumer) Lag() (map[TopicPartition]int64, error) {
	committed := fc.cl.CommittedOffsets() // cached: fetched on assignment, updated by commits
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make(map[TopicPartition]int64, len(fc.assigned))
	for tp := range fc.assigned {
		hi, ok := fc.high[tp]
		if !ok {
			continue
		}
		pos, ok := fc.position[tp]
		if !ok {
			if eo, ok2 := committed[tp.Topic][tp.Partition]; ok2 && eo.Offset >= 0 {
				pos, ok = eo.Offset, true
			}
		}
		if !ok {
			pos = fc.low[tp]
		}
		out[tp] = max(0, hi-pos)
	}
	return out, nil
}

func (fc *franzConsumer) Ping(ctx context.Context) error { return pingFranz(ctx, fc.cl) }

func (fc *franzConsumer) Close() error {
	if fc.closed.Swap(true) {
		return nil
	}
	fc.cl.AllowRebalance() // leaving the group revokes: let it run
	fc.cl.Close()
	fc.mu.Lock()
	fc.ahead = nil
	fc.mu.Unlock()
	fc.stopStats()
	return nil
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

var _ Consumer = (*franzConsumer)(nil)
