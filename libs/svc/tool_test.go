package svc

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestRunToolExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		give       error
		wantCode   int
		wantStderr string
	}{
		{"ok", nil, 0, ""},
		{"error", errors.New("boom"), 1, "demo: boom\n"},
		{"help printed", flag.ErrHelp, 1, ""},
		{"interrupted fails", context.Canceled, 1, "demo: context canceled\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errb bytes.Buffer
			prog := func(context.Context, []string, io.Writer, io.Writer) error { return tt.give }
			code := runTool(t.Context(), "demo", prog, nil, io.Discard, &errb)
			if code != tt.wantCode || errb.String() != tt.wantStderr {
				t.Errorf("runTool(%v) = %d, stderr %q; want %d, %q", tt.give, code, errb.String(), tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestSubcommand(t *testing.T) {
	var errb bytes.Buffer
	if _, _, _, err := Subcommand("demo", "usage\n", nil, &errb); !errors.Is(err, flag.ErrHelp) || errb.String() != "usage\n" {
		t.Errorf("Subcommand(no args) = %v, stderr %q; want flag.ErrHelp, usage", err, errb.String())
	}
	cmd, rest, fs, err := Subcommand("demo", "usage\n", []string{"up", "-x"}, io.Discard)
	if err != nil || cmd != "up" || len(rest) != 1 || rest[0] != "-x" || fs.Name() != "demo up" {
		t.Errorf("Subcommand(up -x) = %q, %q, %v, %v; want up, [-x], flag set \"demo up\"", cmd, rest, fs, err)
	}
	if err := fs.Parse(rest); err == nil {
		t.Errorf("Parse(-x) = nil, want an error (ContinueOnError)")
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		give                   string
		wantErr                bool
		wantStdout, wantStderr string
	}{
		{"help", false, "usage\n", ""},
		{"--help", false, "usage\n", ""},
		{"frobnicate", true, "", "usage\n"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := UnknownCommand(tt.give, "usage\n", &out, &errb)
		if (err != nil) != tt.wantErr || out.String() != tt.wantStdout || errb.String() != tt.wantStderr {
			t.Errorf("UnknownCommand(%q) = %v, stdout %q, stderr %q; want error %t, %q, %q", tt.give, err, out.String(), errb.String(), tt.wantErr, tt.wantStdout, tt.wantStderr)
		}
		if tt.wantErr && !strings.Contains(err.Error(), tt.give) {
			t.Errorf("UnknownCommand(%q) = %v, want the command named", tt.give, err)
		}
	}
}
