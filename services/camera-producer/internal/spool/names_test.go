package spool

import (
	"testing"
	"time"
)

func TestNameTimes(t *testing.T) {
	nt, err := ParseNameTimes(DefaultNamePatterns, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		give     string
		want     time.Time
		wantName bool
	}{
		{"original producer", "20160512-134501.jpg", time.Date(2016, 5, 12, 13, 45, 1, 0, time.UTC), true},
		{"motion default", "01-20160512134501-03.jpg", time.Date(2016, 5, 12, 13, 45, 1, 0, time.UTC), true},
		{"motion, long event number", "1234-20160512134501-17.jpg", time.Date(2016, 5, 12, 13, 45, 1, 0, time.UTC), true},
		{"our writer", "C1-20160512134501-250-000042.jpg", time.Date(2016, 5, 12, 13, 45, 1, 250e6, time.UTC), true},
		{"camera id with dashes", "cam-a.1-20160512134501-250-000042.jpg", time.Date(2016, 5, 12, 13, 45, 1, 250e6, time.UTC), true},
		{"no extension", "20160512-134501", time.Date(2016, 5, 12, 13, 45, 1, 0, time.UTC), true},
		{"invalid date falls back to mtime", "20160231-134501.jpg", mtime, false},
		{"invalid hour falls back to mtime", "20160512-254501.jpg", mtime, false},
		{"other name", "snapshot.jpg", mtime, false},
		{"extra text", "x20160512-134501.jpg", mtime, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fromName := nt.CaptureTime(tt.give, mtime)
			if !got.Equal(tt.want) || fromName != tt.wantName {
				t.Errorf("CaptureTime(%q) = %v, %v; want %v, %v", tt.give, got, fromName, tt.want, tt.wantName)
			}
		})
	}
}

func TestNameTimeZone(t *testing.T) {
	nt, err := ParseNameTimes([]string{"%Y%m%d-%H%M%S"}, "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := nt.CaptureTime("20160512-134501.jpg", time.Time{})
	if want := time.Date(2016, 5, 12, 11, 45, 1, 0, time.UTC); !got.Equal(want) {
		t.Errorf("CaptureTime in Berlin = %v, want %v", got, want)
	}
}

func TestParseNamePatternErrors(t *testing.T) {
	for _, p := range []string{"%Y%m%d", "%Y%m%d-%H%M%S%", "%Y%m%d-%H%M%S-%x", "%Y%Y%m%d%H%M%S"} {
		if _, err := ParseNamePattern(p); err == nil {
			t.Errorf("ParseNamePattern(%q) = nil error", p)
		}
	}
}

func TestWriterNameRoundTrip(t *testing.T) {
	nt, err := ParseNameTimes(DefaultNamePatterns, "Local")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 11, 33, 15, 123456789, time.UTC)
	name := WriterName("C3", at, 42, nt.Location)
	got, fromName := nt.CaptureTime(name, time.Time{})
	if want := at.Truncate(time.Millisecond); !fromName || !got.Equal(want) {
		t.Errorf("CaptureTime(WriterName(...) = %q) = %v, %v; want %v from the name", name, got, fromName, want)
	}
}
