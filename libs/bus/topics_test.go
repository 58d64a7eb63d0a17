package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/svc"
)

type creatorAdmin struct {
	mu     sync.Mutex
	fail   int // EnsureTopics calls that fail first
	calls  int
	got    []TopicSpec
	closed bool
	// onEnsure, when set, runs at the start of every EnsureTopics call
	// (numbered from 1).
	onEnsure func(call int)
}

func (a *creatorAdmin) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("fake: EnsureTopics without a deadline (an attempt must be bounded)")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.onEnsure != nil {
		a.onEnsure(a.calls)
	}
	if a.calls <= a.fail {
		return errors.New("fake: brokers refuse")
	}
	a.got = specs
	return nil
}
func (a *creatorAdmin) TopicConfig(context.Context, string) (map[string]string, error) {
	return nil, nil
}
func (a *creatorAdmin) Partitions(context.Context, string) (int, error) { return 1, nil }
func (a *creatorAdmin) Close() error                                    { a.closed = true; return nil }

func TestTopicCreator(t *testing.T) {
	tests := []struct {
		name        string
		newFails    int // NewAdmin calls that fail first
		ensureFails int
		wantReports int // failed attempts reported before success
	}{
		{"first try", 0, 0, 0},
		{"no admin client at first", 2, 0, 2},
		{"brokers refuse at first", 0, 3, 3},
		{"both", 1, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adm := &creatorAdmin{fail: tt.ensureFails}
			var reports []error
			news := 0
			tc := &TopicCreator{
				Specs: []TopicSpec{{Name: "cameraData", Partitions: 1, ReplicationFactor: 3, Config: TopicConfig(2, 8<<20)}},
				NewAdmin: func() (Admin, error) {
					news++
					if news <= tt.newFails {
						return nil, errors.New("fake: no client")
					}
					return adm, nil
				},
				Report:  func(err error) { reports = append(reports, err) },
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				Backoff: svc.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond},
			}
			if !tc.Run(context.Background()) {
				t.Fatal("Run() = false, want true")
			}
			if len(reports) != tt.wantReports+1 || reports[len(reports)-1] != nil {
				t.Fatalf("reports = %v, want %d failures then nil", reports, tt.wantReports)
			}
			for _, r := range reports[:tt.wantReports] {
				if r == nil {
					t.Errorf("a failed attempt was reported as success")
				}
			}
			if !adm.closed {
				t.Errorf("admin client not closed")
			}
			if len(adm.got) != 1 || adm.got[0].Config["max.message.bytes"] != "8454144" || adm.got[0].Config["min.insync.replicas"] != "2" {
				t.Errorf("EnsureTopics got %+v", adm.got)
			}
		})
	}
}

func TestTopicCreatorStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tc := &TopicCreator{
		Specs:    []TopicSpec{{Name: "x", Partitions: 1, ReplicationFactor: 1}},
		NewAdmin: func() (Admin, error) { return &creatorAdmin{fail: 1 << 30}, nil },
		Report:   func(err error) { cancel() },
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Backoff:  svc.Backoff{Min: time.Hour, Max: time.Hour},
	}
	if tc.Run(ctx) {
		t.Errorf("Run() = true after cancellation, want false")
	}
}

// Wired to a probe and a counter, the creator keeps its condition unmet
// during every failed attempt (no admin client, brokers refusing), counts
// each failure, and meets the condition once the topics exist; a creator
// stopped by the service before that leaves the condition unmet.
func TestTopicCreatorReadinessAndFailures(t *testing.T) {
	tests := []struct {
		name         string
		newFails     int
		ensureFails  int
		stopAtEnsure int // cancel the context during this EnsureTopics call (0: never)
		wantOK       bool
		wantFailures float64
	}{
		{"created after failures", 1, 3, 0, true, 4},
		{"stopped before created", 0, 1 << 30, 5, false, 4}, // the fifth attempt is cut, not counted
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			probe := svc.NewProbe(reg)
			failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var notReady []string
			adm := &creatorAdmin{fail: tt.ensureFails}
			adm.onEnsure = func(call int) {
				if err := probe.Ready(); err != nil {
					notReady = append(notReady, err.Error())
				}
				if call == tt.stopAtEnsure {
					cancel()
				}
			}
			news := 0
			tc := &TopicCreator{
				Specs: []TopicSpec{{Name: "cameraData", Partitions: 1, ReplicationFactor: 3}},
				NewAdmin: func() (Admin, error) {
					if news++; news <= tt.newFails {
						return nil, errors.New("fake: no client")
					}
					return adm, nil
				},
				Probe: probe, Condition: "cloud-topics", Failures: failures,
				Log:     slog.New(slog.DiscardHandler),
				Backoff: svc.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond},
			}
			probe.Register("cloud-topics")
			if got := tc.Run(ctx); got != tt.wantOK {
				t.Fatalf("Run() = %v, want %v", got, tt.wantOK)
			}
			if len(notReady) != adm.calls {
				t.Errorf("not ready during %d of %d attempts, want all", len(notReady), adm.calls)
			}
			for _, r := range notReady[1:] {
				if !strings.Contains(r, "cloud-topics: create topics") {
					t.Errorf("readiness while failing = %q, want cloud-topics with the create error", r)
				}
			}
			if got := testutil.ToFloat64(failures); got != tt.wantFailures {
				t.Errorf("failures = %v, want %v", got, tt.wantFailures)
			}
			if !adm.closed {
				t.Error("admin client not closed")
			}
			want := "0"
			if tt.wantOK {
				want = "1"
				if err := probe.Ready(); err != nil {
					t.Errorf("Ready() after creation = %v", err)
				}
			} else if err := probe.Ready(); err == nil || !strings.Contains(err.Error(), "cloud-topics") {
				t.Errorf("Ready() = %v, want cloud-topics not met", err)
			}
			exp := "# HELP sensornode_ready Readiness condition: 1 when met, 0 when not.\n# TYPE sensornode_ready gauge\n" +
				`sensornode_ready{condition="cloud-topics"} ` + want + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "sensornode_ready"); err != nil {
				t.Error(err)
			}
		})
	}
}

// A lent admin client is used and left open.
func TestTopicCreatorLentAdmin(t *testing.T) {
	adm := &creatorAdmin{fail: 1}
	tc := &TopicCreator{Specs: []TopicSpec{{Name: "x", Partitions: 1, ReplicationFactor: 1}}, Admin: adm,
		Log: slog.New(slog.DiscardHandler), Backoff: svc.Backoff{Min: time.Millisecond, Max: time.Millisecond}}
	if !tc.Run(context.Background()) {
		t.Fatal("Run() = false")
	}
	if adm.calls != 2 || len(adm.got) != 1 {
		t.Errorf("EnsureTopics called %d times with %v, want 2 (one failure)", adm.calls, adm.got)
	}
	if adm.closed {
		t.Error("a lent admin client was closed")
	}
}

func TestTopicSettings(t *testing.T) {
	tests := []struct {
		name    string
		ts      TopicSettings
		wantErr string
	}{
		{"not creating: not checked", TopicSettings{TopicPartitions: 0}, ""},
		{"valid", TopicSettings{CreateTopics: true, TopicPartitions: 4, TopicReplicationFactor: 3, TopicMinInsyncReplicas: 2}, ""},
		{"all wrong", TopicSettings{CreateTopics: true, TopicPartitions: 0, TopicReplicationFactor: 0, TopicMinInsyncReplicas: 1},
			"SENSORNODE_TOPIC_PARTITIONS 0: need at least 1; SENSORNODE_TOPIC_REPLICATION_FACTOR 0: need at least 1; " +
				"SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 1: need 1..SENSORNODE_TOPIC_REPLICATION_FACTOR (0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p svc.Problems
			tt.ts.Check(&p)
			err := p.Err()
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Check() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	ts := TopicSettings{CreateTopics: true, TopicPartitions: 4, TopicReplicationFactor: 3, TopicMinInsyncReplicas: 2}
	if s := ts.TopicSpec("node1", 0); s.Name != "node1" || s.Partitions != 4 || s.ReplicationFactor != 3 ||
		len(s.Config) != 1 || s.Config["min.insync.replicas"] != "2" {
		t.Errorf("TopicSpec(node1, 0) = %+v, want 4 partitions, RF 3, only min.insync.replicas 2", s)
	}
	if s := ts.TopicSpec("cameraData", 8<<20); s.Config["max.message.bytes"] != "8454144" || s.Config["min.insync.replicas"] != "2" {
		t.Errorf("TopicSpec(cameraData, 8 MiB) config = %v, want max.message.bytes 8 MiB + 64 KiB", s.Config)
	}
}
