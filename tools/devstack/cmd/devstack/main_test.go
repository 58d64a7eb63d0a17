package main

import (
	"flag"
	"io"
	"slices"
	"syscall"
	"testing"
)

func TestParseInterleavedFlags(t *testing.T) {
	tests := []struct {
		name       string
		give       []string
		want       int
		wantPos    []string
		wantFollow bool
		wantErr    bool
	}{
		{"name then flag", []string{"edge-kafka-1", "-f"}, -1, []string{"edge-kafka-1"}, true, false},
		{"flag then name", []string{"-f", "zk-2"}, -1, []string{"zk-2"}, true, false},
		{"no args", nil, -1, nil, false, false},
		{"one wanted, none given", nil, 1, nil, false, true},
		{"one wanted, two given", []string{"a", "b"}, 1, nil, false, true},
		{"unknown flag", []string{"--nope"}, -1, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("logs", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			follow := fs.Bool("f", false, "")
			pos, err := parse(fs, tt.give, tt.want)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parse(%q) error = %v, want error %t", tt.give, err, tt.wantErr)
			}
			if err == nil && (!slices.Equal(pos, tt.wantPos) || *follow != tt.wantFollow) {
				t.Errorf("parse(%q) = %q, -f %t, want %q, %t", tt.give, pos, *follow, tt.wantPos, tt.wantFollow)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ give, want string }{
		{"127.0.0.1:29011,127.0.0.1:29012", "127.0.0.1:29011,127.0.0.1:29012"},
		{"/work/main/.devstack", "/work/main/.devstack"},
		{"/path with space", "'/path with space'"},
		{"it's", `'it'\''s'`},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.give); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		give    string
		want    syscall.Signal
		wantErr bool
	}{
		{"KILL", syscall.SIGKILL, false},
		{"sigterm", syscall.SIGTERM, false},
		{"9", syscall.SIGKILL, false},
		{"STOP2", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.give)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseSignal(%q) = %v, %v, want %v, error %t", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRunUnknownCommand(t *testing.T) {
	if err := run(t.Context(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Errorf("run(frobnicate) = nil, want an error")
	}
}
