package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/report"
)

func TestReadingsFailureTellsLostFromLate(t *testing.T) {
	for _, tt := range []struct {
		name string
		give report.Readings
		want []string // in the message; none: passed
	}{
		{name: "all stored", give: report.Readings{Edge: 350, HDFS: 350, EdgeSameIdentity: 3}},
		{name: "none on the edge", give: report.Readings{}, want: []string{"no temperature reading"}},
		{
			name: "missing",
			give: report.Readings{Edge: 350, HDFS: 345, Missing: 5, Lost: 1, NotWritten: 3, NotForwarded: 1, MissingIDs: []string{"node1|... (lost)"}},
			want: []string{"5 missing in HDFS", "1 lost", "3 not yet written", "1 not yet forwarded", "node1|... (lost)"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := readingsFailure(tt.give)
			if len(tt.want) == 0 && got != "" {
				t.Errorf("readingsFailure() = %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("readingsFailure() = %q, want it to hold %q", got, w)
				}
			}
		})
	}
}

// Readings count by the pipeline's identity: two readings of a node in one
// second with one value are one reading (ingest stores it once), counted
// apart as sharing an identity; a redelivery is no new reading.
func TestReadingsCountByPipelineIdentity(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 56, 10, 300_000_000, time.UTC)
	r := func(offset time.Duration, celsius float64) messages.TemperatureReading {
		return messages.TemperatureReading{NodeID: "node1", ReadAt: at.Add(offset), TemperatureCelsius: celsius, Source: "synthetic"}
	}
	rd := newReadings()
	rd.seen(r(0, 41.2))
	rd.seen(r(0, 41.2))                     // redelivered
	rd.seen(r(600*time.Millisecond, 41.2))  // a delayed tick: the same second and value
	rd.seen(r(650*time.Millisecond, 41.3))  // the same second, another value
	rd.seen(r(1700*time.Millisecond, 41.2)) // the next second
	edge, same := rd.snapshot()
	if len(edge) != 3 || same != 1 {
		t.Errorf("snapshot() = %d identities, %d sharing one; want 3, 1", len(edge), same)
	}
	if n := edge[r(0, 41.2).Identity()]; n != 3 {
		t.Errorf("identity of the first reading seen %d times, want 3", n)
	}
}
