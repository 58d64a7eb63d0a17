package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
)

type creatorAdmin struct {
	mu     sync.Mutex
	fail   int // EnsureTopics calls that fail first
	calls  int
	got    []TopicSpec
	closed bool
}

func (a *creatorAdmin) EnsureTopics(_ context.Context, specs []TopicSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
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
