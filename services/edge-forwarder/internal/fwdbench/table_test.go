package fwdbench

import (
	"image"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	samples := func(base time.Duration) []Sample {
		return []Sample{
			{Size: image.Pt(320, 188), Durations: []time.Duration{base, 2 * base}, Bytes: 10_000},
			{Size: image.Pt(640, 480), Durations: []time.Duration{3 * base, 5 * base}, Bytes: 30_000},
		}
	}
	got := Table([]string{"json", "binary"}, map[string][]Sample{"json": samples(time.Millisecond), "binary": samples(2 * time.Millisecond)}, []string{"47", "112"})
	want := `| per-image processing time (ms, mean) | 320x188 | 640x480 |
|---|---|---|
| thesis forwarder, Raspberry Pi 2, Java, Kafka 0.9 (Table 5.2) | 47 | 112 |
| json | 1.50 | 4.00 |
| binary | 3.00 | 8.00 |
`
	if len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("Table() begins\n%s\nwant\n%s", got, want)
	}
	if Table(nil, nil, nil) != "" {
		t.Error("Table() of no rows is not empty")
	}
}
