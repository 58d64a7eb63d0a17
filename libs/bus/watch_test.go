package bus

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/svc"
)

// The watch pings the brokers for its condition, creates the topic only
// when told to (retrying, counted), and runs Then once the topic exists.
func TestProducerWatch(t *testing.T) {
	tests := []struct {
		name         string
		create       bool
		ensureFails  int
		wantEnsures  int
		wantFailures float64
	}{
		{name: "topics not created"},
		{name: "created first time", create: true, wantEnsures: 1},
		{name: "created after failures", create: true, ensureFails: 2, wantEnsures: 3, wantFailures: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				probe := svc.NewProbe(prometheus.NewRegistry())
				failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"})
				adm := &creatorAdmin{fail: tt.ensureFails}
				ctx, cancel := context.WithCancel(t.Context())
				ensuresAtThen := -1
				w := ProducerWatch{
					Ping: func(context.Context) error { return nil }, Probe: probe, Log: slog.New(slog.DiscardHandler),
					Interval: time.Second, KafkaCondition: "kafka", Down: "kafka unreachable",
					Topic: "t", Settings: TopicSettings{CreateTopics: tt.create, TopicPartitions: 2, TopicReplicationFactor: 3, TopicMinInsyncReplicas: 2},
					Admin: adm, TopicCondition: "topic", CreateFailures: failures,
					Then: func(ctx context.Context) {
						ensuresAtThen = adm.calls
						<-ctx.Done()
					},
				}
				done := make(chan error)
				go func() { done <- w.Run(ctx) }()
				time.Sleep(time.Minute)
				synctest.Wait()
				if err := probe.Ready(); err != nil {
					t.Errorf("Ready() = %v, want nil", err)
				}
				if ensuresAtThen != tt.wantEnsures {
					t.Errorf("EnsureTopics calls when Then ran = %d, want %d", ensuresAtThen, tt.wantEnsures)
				}
				if tt.create && (len(adm.got) != 1 || adm.got[0].Name != "t" || adm.got[0].Partitions != 2) {
					t.Errorf("EnsureTopics got %+v, want topic t with 2 partitions", adm.got)
				}
				if got := testutil.ToFloat64(failures); got != tt.wantFailures {
					t.Errorf("failures = %v, want %v", got, tt.wantFailures)
				}
				if adm.closed {
					t.Error("the lent admin client was closed")
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run() = %v, want nil", err)
				}
			})
		})
	}
}
