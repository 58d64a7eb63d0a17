package bus

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzConsumer is the franz-go Consumer. This file builds it and holds
// its offset and pause control; franz_consumer_fetch.go is Poll and the
// fetch taken ahead, franz_consumer_rebalance.go the assignment's life
// (assigned, revoked, lost, a topic deleted under it).
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

// franzSlotBytes is the most a concurrent fetch slot counts for in
// franzConsumerOpts: a larger MaxFetchBytes does not take slots away.
const franzSlotBytes = 1 << 20

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
	// allows), so about QueueMaxBytes in total. Slots are counted at most
	// franzSlotBytes each, whatever MaxFetchBytes: a broker with nothing to
	// fetch holds its slot for franzFetchMaxWait, so one slot for two
	// brokers cut a 1280x720 drain to 70 pictures/s
	// (loadtest/results/20261207-fetch-default).
	fetches := max(1, min(franzMaxConcurrent, cfg.QueueMaxBytes/min(cfg.MaxFetchBytes, franzSlotBytes)-1))
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

var _ Consumer = (*franzConsumer)(nil)
