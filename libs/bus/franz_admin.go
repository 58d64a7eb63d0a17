package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type franzAdmin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func newFranzAdmin(cfg Config, o options) (*franzAdmin, error) {
	opts, err := franzCommon(cfg, o)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DisableClientMetrics())...)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(30000) // as the confluent backend's operation timeout
	return &franzAdmin{cl: cl, adm: adm}, nil
}

func (fa *franzAdmin) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	var (
		errs    []error
		created []string
	)
	for _, s := range specs {
		var configs map[string]*string
		if len(s.Config) > 0 {
			configs = make(map[string]*string, len(s.Config))
			for k, v := range s.Config {
				configs[k] = &v
			}
		}
		rf := int16(s.ReplicationFactor)
		if rf <= 0 {
			rf = -1 // the broker's default.replication.factor
		}
		parts := int32(s.Partitions)
		if parts <= 0 {
			parts = -1
		}
		_, err := fa.adm.CreateTopic(ctx, parts, rf, configs, s.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
			continue
		}
		if err == nil {
			created = append(created, s.Name)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return fa.waitTopics(ctx, created)
}

// waitTopics returns when every broker's metadata shows every topic with a
// leader for each partition: created topics are usable, through any
// broker, when EnsureTopics returns.
func (fa *franzAdmin) waitTopics(ctx context.Context, topics []string) error {
	for {
		pending, err := fa.topicsNotReady(ctx, topics)
		if err == nil && len(pending) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not ready on every broker: %v", pending)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics %v: %w (%w)", topics, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (fa *franzAdmin) topicsNotReady(ctx context.Context, topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	md, err := fa.metadata(ctx, topics)
	if err != nil {
		return nil, err
	}
	req := metadataRequest(topics)
	notReady := map[string]bool{}
	for _, b := range md.Brokers {
		resp, err := req.RequestWith(ctx, fa.cl.Broker(int(b.NodeID)))
		if err != nil {
			return nil, err
		}
		ready := map[string]bool{}
		for _, t := range resp.Topics {
			ok := t.Topic != nil && t.ErrorCode == 0 && len(t.Partitions) > 0
			for _, p := range t.Partitions {
				ok = ok && p.ErrorCode == 0 && p.Leader >= 0
			}
			if ok {
				ready[*t.Topic] = true
			}
		}
		for _, t := range topics {
			if !ready[t] {
				notReady[t] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(notReady)), nil
}

// metadata asks a broker, bypassing franz-go's metadata cache (kadm's
// topic listing may answer from a cache up to 5 s old).
func (fa *franzAdmin) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	return metadataRequest(topics).RequestWith(ctx, fa.cl)
}

func (fa *franzAdmin) TopicConfig(ctx context.Context, topic string) (map[string]string, error) {
	rcs, err := fa.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, classifyFranz(err))
	}
	out := make(map[string]string, len(rc.Configs))
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out, nil
}

func (fa *franzAdmin) Partitions(ctx context.Context, topic string) (int, error) {
	md, err := fa.metadata(ctx, []string{topic})
	if err != nil {
		return 0, fmt.Errorf("metadata %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Topic != nil && *t.Topic == topic && t.ErrorCode == 0 {
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("topic %s: %w", topic, ErrUnknownTopic)
}

func (fa *franzAdmin) Close() error {
	fa.cl.Close()
	return nil
}

var _ Admin = (*franzAdmin)(nil)
