package bus

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
)

// TopicRecordOverhead is added to a producer's largest record to get a
// created topic's max.message.bytes: room for the record batch framing
// around one record (the confluent backend gives librdkafka's
// message.max.bytes the same headroom), so the topic accepts whatever the
// producer accepts.
const TopicRecordOverhead = 64 << 10

// TopicConfig is the configuration of a topic a service creates.
func TopicConfig(minISR, maxRecordBytes int) map[string]string {
	return map[string]string{
		"min.insync.replicas": strconv.Itoa(minISR),
		"max.message.bytes":   strconv.Itoa(maxRecordBytes + TopicRecordOverhead),
	}
}

// TopicSettings are the settings of the topics a service creates when
// SENSORNODE_CREATE_TOPICS is true (existing topics are left alone). A
// service embeds the block anonymously in its Config, so the variables are
// named alike everywhere and the chart sets them alike.
type TopicSettings struct {
	CreateTopics           bool `envconfig:"CREATE_TOPICS" default:"false"`
	TopicPartitions        int  `envconfig:"TOPIC_PARTITIONS" default:"1"`
	TopicReplicationFactor int  `envconfig:"TOPIC_REPLICATION_FACTOR" default:"3"`
	TopicMinInsyncReplicas int  `envconfig:"TOPIC_MIN_INSYNC_REPLICAS" default:"2"`
}

// Check adds the block's problems to p (only when topics are created).
func (t *TopicSettings) Check(p *svc.Problems) {
	if !t.CreateTopics {
		return
	}
	if t.TopicPartitions < 1 {
		p.Addf("SENSORNODE_TOPIC_PARTITIONS %d: need at least 1", t.TopicPartitions)
	}
	if t.TopicReplicationFactor < 1 {
		p.Addf("SENSORNODE_TOPIC_REPLICATION_FACTOR %d: need at least 1", t.TopicReplicationFactor)
	}
	if t.TopicMinInsyncReplicas < 1 || t.TopicMinInsyncReplicas > t.TopicReplicationFactor {
		p.Addf("SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS %d: need 1..SENSORNODE_TOPIC_REPLICATION_FACTOR (%d)",
			t.TopicMinInsyncReplicas, t.TopicReplicationFactor)
	}
}

// TopicSpec is topic name as these settings create it. With
// maxRecordBytes > 0 its max.message.bytes takes one such record (see
// TopicConfig); with 0 the broker's default applies.
func (t *TopicSettings) TopicSpec(name string, maxRecordBytes int) TopicSpec {
	cfg := map[string]string{"min.insync.replicas": strconv.Itoa(t.TopicMinInsyncReplicas)}
	if maxRecordBytes > 0 {
		cfg = TopicConfig(t.TopicMinInsyncReplicas, maxRecordBytes)
	}
	return TopicSpec{Name: name, Partitions: t.TopicPartitions, ReplicationFactor: t.TopicReplicationFactor, Config: cfg}
}

// defaultCreateTimeout bounds one EnsureTopics call (both backends ask the
// brokers for 30 s).
const defaultCreateTimeout = 30 * time.Second

// TopicCreator ensures that topics exist, retrying with backoff until it
// succeeds: what a service runs when told to create its topics (the
// SENSORNODE_CREATE_TOPICS switch). It never fails the service: every
// attempt's outcome sets readiness condition Condition on Probe (the
// service is not ready until the topics exist), every failed attempt is
// counted on Failures, and the first failure, then every tenth, is logged.
type TopicCreator struct {
	Specs     []TopicSpec
	NewAdmin  func() (Admin, error) // called until it succeeds; the client is closed when Run returns
	Admin     Admin                 // instead of NewAdmin: a client the caller owns (left open)
	Probe     *svc.Probe            // nil: readiness not reported
	Condition string
	Failures  prometheus.Counter // nil: not counted
	Report    func(err error)    // optional: after every attempt; nil once the topics exist
	Log       *slog.Logger
	Backoff   svc.Backoff
	Timeout   time.Duration // bound of one attempt; 0 means 30 s
}

func (tc *TopicCreator) report(err error) {
	if tc.Probe != nil {
		tc.Probe.Set(tc.Condition, err)
	}
	if err != nil && tc.Failures != nil {
		tc.Failures.Inc()
	}
	if tc.Report != nil {
		tc.Report(err)
	}
}

// Run tries until the topics exist or ctx is done and reports whether they
// were ensured. The admin client is made on the first attempt that can
// make it and closed on return.
func (tc *TopicCreator) Run(ctx context.Context) bool {
	names := make([]string, len(tc.Specs))
	for i, s := range tc.Specs {
		names[i] = s.Name
	}
	adm := tc.Admin
	defer func() {
		if adm != nil && tc.Admin == nil {
			_ = adm.Close()
		}
	}()
	for attempt := 1; ; attempt++ {
		err := tc.attempt(ctx, &adm)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			tc.report(nil)
			s := tc.Specs[0]
			tc.Log.Info("topics ensured (created where missing, existing ones left alone)", "topics", names,
				"partitions", s.Partitions, "replication_factor", s.ReplicationFactor, "config", s.Config, "attempts", attempt)
			return true
		}
		tc.report(fmt.Errorf("create topics: %w", err))
		wait := tc.Backoff.Next()
		if attempt == 1 || attempt%10 == 0 {
			tc.Log.Warn("cannot create the topics, will retry", "topics", names, "attempts", attempt,
				"retry_in", wait.Round(time.Millisecond).String(), "err", err)
		}
		if svc.SleepCtx(ctx, wait) != nil {
			return false
		}
	}
}

func (tc *TopicCreator) attempt(ctx context.Context, adm *Admin) error {
	if *adm == nil {
		a, err := tc.NewAdmin()
		if err != nil {
			return fmt.Errorf("admin client: %w", err)
		}
		*adm = a
	}
	timeout := tc.Timeout
	if timeout <= 0 {
		timeout = defaultCreateTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	specs := make([]TopicSpec, len(tc.Specs))
	for i, s := range tc.Specs {
		s.Config = maps.Clone(s.Config)
		specs[i] = s
	}
	return (*adm).EnsureTopics(actx, specs)
}
