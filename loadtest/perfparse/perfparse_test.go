package perfparse

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    Result
		wantErr error
	}{
		{
			name: "kafka 3.9 output with a window and a warning",
			give: "[2026-11-27 11:58:01,000] WARN something (org.apache.kafka.clients.NetworkClient)\n" +
				"177 records sent, 35.2 records/sec (2.01 MB/sec), 2650.0 ms avg latency, 4014.0 ms max latency.\n" +
				"300 records sent, 46.082949 records/sec (2.64 MB/sec), 3479.77 ms avg latency, 5437.00 ms max latency, 3519 ms 50th, 5186 ms 95th, 5388 ms 99th, 5437 ms 99.9th.\n",
			want: Result{
				Window: Window{Records: 300, RecordsPerSec: 46.082949, MBPerSec: 2.64, AvgLatencyMs: 3479.77, MaxLatencyMs: 5437},
				P50Ms:  3519, P95Ms: 5186, P99Ms: 5388, P999Ms: 5437,
				Windows: []Window{{Records: 177, RecordsPerSec: 35.2, MBPerSec: 2.01, AvgLatencyMs: 2650, MaxLatencyMs: 4014}},
			},
		},
		{
			name: "summary only",
			give: "1000 records sent, 2345.216 records/sec (134.18 MB/sec), 12.50 ms avg latency, 80.00 ms max latency, 10 ms 50th, 30 ms 95th, 60 ms 99th, 80 ms 99.9th.",
			want: Result{Window: Window{Records: 1000, RecordsPerSec: 2345.216, MBPerSec: 134.18, AvgLatencyMs: 12.5, MaxLatencyMs: 80},
				P50Ms: 10, P95Ms: 30, P99Ms: 60, P999Ms: 80},
		},
		{
			name:    "tool failed",
			give:    "org.apache.kafka.common.errors.RecordTooLargeException: The message is 9000000 bytes\n",
			wantErr: ErrNoSummary,
		},
		{
			name:    "windows but no summary",
			give:    "177 records sent, 35.2 records/sec (2.01 MB/sec), 2650.0 ms avg latency, 4014.0 ms max latency.\n",
			wantErr: ErrNoSummary,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.give)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Parse() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() = %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}
