package svc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The watch records every outcome on its condition, logs the first
// outcome and each change once, runs After with every outcome, waits
// Interval while met and Retry while not, and stops with its context.
func TestWatch(t *testing.T) {
	errDown := errors.New("brokers gone")
	tests := []struct {
		name     string
		outcomes []error // what successive checks return
		wantLogs []string
	}{
		{"up throughout", []error{nil, nil, nil}, []string{"INFO kafka reachable"}},
		{"down then up", []error{errDown, errDown, nil, nil}, []string{"WARN kafka unreachable", "INFO kafka reachable"}},
		{"flapping", []error{nil, errDown, nil, errDown}, []string{"INFO kafka reachable", "WARN kafka unreachable",
			"INFO kafka reachable", "WARN kafka unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					}}))
				probe := NewProbe(nil)
				ctx, cancel := context.WithCancel(t.Context())
				start := time.Now()
				var checkedAt []time.Duration
				var after []error
				var readyAtCheck []error
				w := Watch{
					Condition: "kafka", Probe: probe, Log: log,
					Interval: 10 * time.Second, Retry: 2 * time.Second,
					Up: "kafka reachable", Down: "kafka unreachable",
					Check: func(context.Context) error {
						n := len(checkedAt)
						checkedAt = append(checkedAt, time.Since(start))
						readyAtCheck = append(readyAtCheck, probe.Ready())
						if n == len(tt.outcomes)-1 {
							cancel() // the last scripted check ends the watch
						}
						if n >= len(tt.outcomes) {
							t.Fatalf("check %d after the context ended", n)
						}
						return tt.outcomes[n]
					},
					After: func(_ context.Context, err error) { after = append(after, err) },
				}
				w.Run(ctx)

				if len(checkedAt) != len(tt.outcomes) {
					t.Fatalf("%d checks, want %d", len(checkedAt), len(tt.outcomes))
				}
				if readyAtCheck[0] == nil || !strings.Contains(readyAtCheck[0].Error(), "not checked yet") {
					t.Errorf("before the first check Ready() = %v, want kafka not checked yet", readyAtCheck[0])
				}
				// The wait before check i depends on check i-1's outcome.
				for i := 1; i < len(checkedAt); i++ {
					want := 10 * time.Second
					if tt.outcomes[i-1] != nil {
						want = 2 * time.Second
					}
					if got := checkedAt[i] - checkedAt[i-1]; got != want {
						t.Errorf("check %d came %v after the previous one, want %v", i, got, want)
					}
					// The probe holds the previous outcome when the next check runs.
					if (readyAtCheck[i] == nil) != (tt.outcomes[i-1] == nil) {
						t.Errorf("at check %d Ready() = %v after outcome %v", i, readyAtCheck[i], tt.outcomes[i-1])
					}
				}
				// After runs for every check but the one cut by cancellation.
				if len(after) != len(tt.outcomes)-1 {
					t.Errorf("After ran %d times, want %d", len(after), len(tt.outcomes)-1)
				}
				for i, err := range after {
					if err != tt.outcomes[i] {
						t.Errorf("After %d got %v, want %v", i, err, tt.outcomes[i])
					}
				}
				var got []string
				for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
					if l == "" {
						continue
					}
					got = append(got, l)
				}
				// The cut last check is not logged: logs cover the outcomes before it.
				if len(got) > len(tt.wantLogs) {
					t.Fatalf("log lines:\n%s\nwant %d: %q", buf.String(), len(tt.wantLogs), tt.wantLogs)
				}
				for i, l := range got {
					level, msg, _ := strings.Cut(tt.wantLogs[i], " ")
					if !strings.Contains(l, "level="+level) || !strings.Contains(l, `msg="`+msg+`"`) ||
						!strings.Contains(l, "condition=kafka") {
						t.Errorf("log line %d = %q, want level %s, message %q, condition kafka", i, l, level, msg)
					}
					if level == "WARN" && !strings.Contains(l, "brokers gone") {
						t.Errorf("log line %d = %q lacks the error", i, l)
					}
				}
				if want := logsBefore(tt.outcomes[:len(tt.outcomes)-1]); len(got) != want {
					t.Errorf("%d log lines, want %d (one per change): %q", len(got), want, got)
				}
			})
		})
	}
}

// logsBefore counts the changes (the first outcome included) in outcomes.
func logsBefore(outcomes []error) int {
	n := 0
	for i, err := range outcomes {
		if i == 0 || (err == nil) != (outcomes[i-1] == nil) {
			n++
		}
	}
	return n
}

// A check that hangs is cut at Timeout (default: min(Interval, 5 s)) and
// counts as not met.
func TestWatchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := NewProbe(nil)
		ctx, cancel := context.WithCancel(t.Context())
		var checks int
		var took time.Duration
		Watch{
			Condition: "hdfs", Probe: probe, Log: slog.New(slog.DiscardHandler), Interval: 30 * time.Second,
			Check: func(cctx context.Context) error {
				checks++
				start := time.Now()
				<-cctx.Done()
				took = time.Since(start)
				return cctx.Err()
			},
			After: func(context.Context, error) { cancel() },
		}.Run(ctx)
		if checks != 1 || took != 5*time.Second {
			t.Errorf("%d checks, the first took %v; want 1 cut at 5s", checks, took)
		}
		if err := probe.Ready(); err == nil || !strings.Contains(err.Error(), "hdfs: context deadline exceeded") {
			t.Errorf("Ready() = %v, want hdfs: deadline exceeded", err)
		}
	})
}

// A condition the caller registered (and maybe set) is not reset by Run.
func TestWatchKeepsRegisteredCondition(t *testing.T) {
	probe := NewProbe(nil)
	probe.Register("kafka")
	probe.Set("kafka", errors.New("set by the caller"))
	probe.registerIfAbsent("kafka")
	if err := probe.Ready(); err == nil || !strings.Contains(err.Error(), "set by the caller") {
		t.Errorf("Ready() = %v, want the caller's state kept", err)
	}
	probe.registerIfAbsent("topic")
	if err := probe.Ready(); err == nil || !strings.Contains(err.Error(), "topic: not checked yet") {
		t.Errorf("Ready() = %v, want topic registered", err)
	}
}
